// Recommendations and onboarding: keep the page in step with the user's ratings without reloads.
// Everything here is an enhancement: without JavaScript the forms post and the page reloads.
(function () {
  "use strict";
  var ajaxHeaders = {"X-Requested-With": "XMLHttpRequest"};

  // Onboarding: after each star click, ask the server how far the user is and update the bar.
  var progressBox = document.querySelector("[data-onboarding-progress]");
  function refreshProgress() {
    fetch(progressBox.dataset.onboardingProgress, {credentials: "same-origin", headers: ajaxHeaders})
      .then(function (response) { return response.json(); })
      .then(function (data) {
        var bar = progressBox.querySelector(".progress > span");
        var holder = progressBox.querySelector(".progress");
        var text = progressBox.querySelector(".progress-text");
        bar.style.width = Math.round(data.progress * 100) + "%";
        holder.setAttribute("aria-valuenow", data.rated);
        text.innerHTML = "";
        var strong = document.createElement("strong");
        strong.textContent = data.message;
        text.appendChild(strong);
        text.appendChild(document.createTextNode(" (" + data.rated + " rated)"));
        progressBox.querySelector(".unlock-cta").hidden = !data.done;
        progressBox.classList.toggle("unlocked", data.done);
      });
  }

  // Recommendations: after a rating or a "not interested", fetch the list again (the server folds
  // the user in with the new rating) and swap it in, so the new ranking shows at once.
  var live = document.getElementById("recommendations");
  var pending = null;
  function refreshList(notice) {
    if (pending) clearTimeout(pending);
    pending = setTimeout(function () {
      live.setAttribute("aria-busy", "true");
      fetch(live.dataset.liveUrl, {credentials: "same-origin", headers: ajaxHeaders})
        .then(function (response) { return response.text(); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.getElementById("recommendations");
          if (fresh) {
            live.replaceWith(fresh);
            live = fresh;
            if (notice) {
              var note = document.createElement("p");
              note.className = "message message-success live-notice";
              note.setAttribute("role", "status");
              note.textContent = notice;
              live.insertBefore(note, live.firstChild.nextSibling);
            }
          }
        })
        .finally(function () { live.removeAttribute("aria-busy"); });
    }, 250);
  }

  document.addEventListener("rating:changed", function () {
    if (progressBox) refreshProgress();
    if (live && document.getElementById("recommendation-list")) refreshList("Updated with your new rating.");
    else if (live) refreshList(null);
  });

  // Watchlist / not interested on recommendation cards: post in the background, then refresh.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!live || !form.closest || !form.closest(".rec-card")) return;
    if (!form.matches(".watchlist-form, .not-interested-form")) return;
    event.preventDefault();
    var card = form.closest(".rec-card");
    card.classList.add("leaving");
    // getAttribute: the form has an input named "action", which shadows form.action.
    fetch(form.getAttribute("action"), {method: "POST", body: new FormData(form), credentials: "same-origin", headers: ajaxHeaders})
      .then(function (response) { return response.text().then(function (text) { return {ok: response.ok, text: text}; }); })
      .then(function (result) {
        if (!result.ok) { card.classList.remove("leaving"); window.alert(result.text); return; }
        refreshList(result.text);
      });
  });
})();
