// Small progressive enhancements. Every form here also works without JavaScript.
(function () {
  "use strict";
  var reducedMotion = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  // The page's one live region (base.html): a short visible notice that screen readers announce.
  var toastTimer = null;
  function announce(text) {
    var region = document.getElementById("live-status");
    if (!region || !text) return;
    region.textContent = "";
    // A fresh text node after a tick, so the same words twice in a row are announced twice.
    setTimeout(function () {
      region.textContent = text;
      region.classList.add("toast-shown");
    }, 50);
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { region.classList.remove("toast-shown"); }, 6000);
  }
  window.imdbrec = {announce: announce, reducedMotion: reducedMotion};

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }
  function plainText(html) { return html.replace(/<[^>]*>/g, "").trim(); }

  // Menu button on narrow screens: the nav is open without JavaScript, collapsed behind it with.
  var toggle = document.querySelector(".nav-toggle");
  var nav = toggle && document.getElementById(toggle.getAttribute("aria-controls"));
  if (toggle && nav) {
    toggle.addEventListener("click", function () {
      var open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      nav.classList.toggle("is-open", open);
      if (open) { var first = nav.querySelector("a, button"); if (first) first.focus(); }
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && toggle.getAttribute("aria-expanded") === "true") {
        toggle.setAttribute("aria-expanded", "false");
        nav.classList.remove("is-open");
        toggle.focus();
      }
    });
  }

  // Filters that fold away on phones (<details data-open-wide>) start open on wider screens.
  if (window.matchMedia("(min-width: 761px)").matches) {
    document.querySelectorAll("details[data-open-wide]").forEach(function (details) { details.open = true; });
  }

  // Star rating: each choice in the radio group is posted with fetch and the control the server
  // returns is swapped in. A click saves at once; arrow keys save once the member pauses, so
  // walking from 1 to 4 stores one rating, not four. One request per control at a time: a choice
  // made while one is in flight is sent next, so the last choice is what gets stored and shown.
  var ARROW_PAUSE_MS = 700;
  var lastKeyWasArrow = false;
  document.addEventListener("keydown", function (event) {
    lastKeyWasArrow = /^Arrow/.test(event.key);
    var input = event.target.closest && event.target.closest("form.stars input[name=score]");
    if (input && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();  // Enter or Space saves the focused star now
      input.checked = true;
      scheduleRating(input.form, "score", input.value, 0);
    }
  }, true);
  document.addEventListener("pointerdown", function () { lastKeyWasArrow = false; }, true);

  function scheduleRating(form, name, value, delay) {
    clearTimeout(form._timer);
    form._timer = setTimeout(function () {
      if (form.getAttribute("aria-busy")) { form._queued = {name: name, value: value}; return; }
      sendRating(form, name, value);
    }, delay);
  }
  function sendRating(form, name, value) {
    var body = new FormData(form);
    body.delete("score");
    body.delete("remove");
    body.append(name, value);
    form.setAttribute("aria-busy", "true");
    fetch(form.action, {
      method: "POST", body: body, credentials: "same-origin",
      headers: {"X-Requested-With": "XMLHttpRequest", "X-CSRFToken": csrfToken(form)}
    }).then(function (response) {
      return response.text().then(function (text) { return {ok: response.ok, text: text}; });
    }).then(function (result) {
      var queued = form._queued;
      form._queued = null;
      form.removeAttribute("aria-busy");
      if (!result.ok) {
        announce(plainText(result.text) || "The rating could not be saved.");
        return;
      }
      var focused = form.contains(document.activeElement);
      var replacement = null;
      document.querySelectorAll("form.stars").forEach(function (other) {
        if (other.action !== form.action) return;
        var holder = document.createElement("div");
        holder.innerHTML = result.text.trim();
        var fresh = holder.querySelector("form.stars");
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
        var target = replacement.querySelector("input[name=score]:checked") || replacement.querySelector("input[name=score]");
        if (target) target.focus();
      }
      var title = replacement.dataset.title || "this title";
      announce(name === "remove" ? "Removed your rating of " + title + "." : "You rated " + title + " " + value + " of 5.");
      document.dispatchEvent(new CustomEvent("rating:changed", {detail: {action: form.action, form: replacement}}));
    }).catch(function () {
      form.removeAttribute("aria-busy");
      announce("The rating could not be saved: the site did not answer.");
    });
  }
  document.addEventListener("change", function (event) {
    var input = event.target.closest && event.target.closest("form.stars input[name=score]");
    if (!input) return;
    scheduleRating(input.form, "score", input.value, lastKeyWasArrow ? ARROW_PAUSE_MS : 0);
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest("form.stars button[name=remove]");
    if (!button) return;
    event.preventDefault();
    scheduleRating(button.form, "remove", "1", 0);
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form.stars")) return;
    event.preventDefault();  // Enter in the group: the checked star is saved by the change handler
    var checked = form.querySelector("input[name=score]:checked");
    if (checked) scheduleRating(form, "score", checked.value, 0);
  });

  // Watchlist buttons: post in the background and flip the button in place, focus staying on it.
  // recommender.js handles "Not interested" on recommendation cards; elsewhere it posts normally.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form.watchlist-form") || event.defaultPrevented) return;
    event.preventDefault();
    var button = form.querySelector("button");
    var action = form.querySelector("input[name=action]");
    fetch(form.getAttribute("action"), {  // getAttribute: the input named "action" shadows form.action
      method: "POST", body: new FormData(form), credentials: "same-origin",
      headers: {"X-Requested-With": "XMLHttpRequest", "X-CSRFToken": csrfToken(form)}
    }).then(function (response) {
      return response.text().then(function (text) { return {ok: response.ok, text: text}; });
    }).then(function (result) {
      if (!result.ok) { announce(plainText(result.text) || "The watchlist could not be changed."); return; }
      var added = action.value === "add";
      action.value = added ? "remove" : "add";
      button.setAttribute("aria-pressed", String(added));
      button.querySelector(".button-label").textContent = added ? "✓ On watchlist" : "+ Watchlist";
      announce(result.text);
      document.dispatchEvent(new CustomEvent("watchlist:changed", {detail: {form: form, added: added}}));
    }).catch(function () { announce("The watchlist could not be changed: the site did not answer."); });
  });

  // Tables that scroll inside their box must be reachable by keyboard to be scrolled (WCAG 2.1.1):
  // make each one that overflows a named, focusable region, unless its template already did.
  document.querySelectorAll(".table-scroll:not([tabindex])").forEach(function (box) {
    if (box.scrollWidth <= box.clientWidth + 1 && box.scrollHeight <= box.clientHeight + 1) return;
    var caption = box.querySelector("caption");
    var heading = box.closest("section") && box.closest("section").querySelector("h2, h3");
    box.setAttribute("tabindex", "0");
    box.setAttribute("role", "region");
    box.setAttribute("aria-label", ((caption || heading) ? (caption || heading).textContent.trim() + ", " : "") + "table");
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

  // Forms that ask before a destructive action (no inline handlers: the Content-Security-Policy forbids them).
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
})();
