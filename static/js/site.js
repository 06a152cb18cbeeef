// Small progressive enhancements. Every form here also works without JavaScript.
(function () {
  "use strict";
  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }
  // Star rating: post the clicked star with fetch and swap in the control the server returns.
  // One request per control at a time; a click made while one is in flight is sent next, so the
  // last click is what gets stored and shown. Every control for the same title is updated.
  function sendRating(form, name, value) {
    var body = new FormData(form);
    body.append(name, value);
    form.setAttribute("aria-busy", "true");
    fetch(form.action, {
      method: "POST", body: body, credentials: "same-origin",
      headers: {"X-Requested-With": "XMLHttpRequest", "X-CSRFToken": csrfToken(form)}
    }).then(function (response) {
      return response.text().then(function (text) { return {ok: response.ok, text: text}; });
    }).then(function (result) {
      var queued = form._queued;
      form.removeAttribute("aria-busy");
      if (!result.ok) {
        window.alert(result.text.replace(/<[^>]*>/g, "").trim() || "The rating could not be saved.");
        return;
      }
      var focused = form.contains(document.activeElement);
      var replacement = null;
      document.querySelectorAll("form.stars").forEach(function (other) {
        if (other.action !== form.action) return;
        var holder = document.createElement("div");
        holder.innerHTML = result.text.trim();
        var fresh = holder.firstElementChild;
        if (!fresh) return;
        var next = other.querySelector("input[name=next]");
        var freshNext = fresh.querySelector("input[name=next]");
        if (next && freshNext) freshNext.value = next.value;
        other.replaceWith(fresh);
        if (other === form) replacement = fresh;
      });
      if (!replacement) return;
      if (queued) { sendRating(replacement, queued.name, queued.value); return; }
      if (focused) {
        var target = replacement.querySelector("button[name=score][value='" + value + "']") || replacement.querySelector("button[name=score]");
        if (target) target.focus();
      }
      document.dispatchEvent(new CustomEvent("rating:changed", {detail: {action: form.action}}));
    }).catch(function () {
      form.removeAttribute("aria-busy");
      window.alert("The rating could not be saved: the site did not answer.");
    });
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("form.stars button[name]");
    if (!button) return;
    var form = button.form;
    event.preventDefault();
    if (form.getAttribute("aria-busy")) { form._queued = {name: button.name, value: button.value}; return; }
    sendRating(form, button.name, button.value);
  });
  // Live progress: elements with data-progress-url poll a JSON endpoint until it says done.
  function poll(element) {
    fetch(element.dataset.progressUrl, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (data) {
      var bar = element.querySelector(".progress > span");
      var text = element.querySelector(".progress-text");
      if (bar && data.progress != null) bar.style.width = Math.round(data.progress * 100) + "%";
      if (text && data.message != null) text.textContent = data.message;
      if (!data.done) setTimeout(function () { poll(element); }, 1000);
      else if (element.dataset.reloadWhenDone) window.location.reload();
    }).catch(function () { setTimeout(function () { poll(element); }, 3000); });
  }
  document.querySelectorAll("[data-progress-url]").forEach(poll);
})();
