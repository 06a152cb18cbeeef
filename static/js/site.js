// Small progressive enhancements. Every form here also works without JavaScript.
(function () {
  "use strict";
  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }
  // Star rating: post the clicked star with fetch and swap in the control the server returns.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("form.stars button[name]");
    if (!button) return;
    var form = button.form;
    event.preventDefault();
    var body = new FormData(form);
    body.append(button.name, button.value);
    form.setAttribute("aria-busy", "true");
    fetch(form.action, {
      method: "POST", body: body, credentials: "same-origin",
      headers: {"X-Requested-With": "XMLHttpRequest", "X-CSRFToken": csrfToken(form)}
    }).then(function (response) {
      return response.text().then(function (text) { return {ok: response.ok, text: text}; });
    }).then(function (result) {
      form.removeAttribute("aria-busy");
      if (result.ok) {
        var holder = document.createElement("div");
        holder.innerHTML = result.text.trim();
        var replacement = holder.firstElementChild;
        if (replacement) form.replaceWith(replacement);
        document.dispatchEvent(new CustomEvent("rating:changed", {detail: {action: form.action}}));
      } else {
        window.alert(result.text.replace(/<[^>]*>/g, "").trim() || "The rating could not be saved.");
      }
    }).catch(function () {
      form.removeAttribute("aria-busy");
      window.alert("The rating could not be saved: the site did not answer.");
    });
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
