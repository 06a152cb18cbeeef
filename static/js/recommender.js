// Recommendations and onboarding: keep the page in step with the member's clicks without reloads.
// Everything here is an enhancement: without JavaScript the forms post and the page reloads.
// The list never reshuffles under the member: a card they act on stays where it is (and keeps
// focus); the list is ranked again only when they ask for it with "Refresh".
(function () {
  "use strict";
  var ajaxHeaders = {"X-Requested-With": "XMLHttpRequest"};
  var announce = (window.imdbrec && window.imdbrec.announce) || function () {};

  // Onboarding: after each star click, ask the server how far the member is and update the bar.
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
        announce(data.message);
      });
  }

  var live = document.getElementById("recommendations");
  function cardOf(element) { return element && element.closest ? element.closest(".rec-card") : null; }

  document.addEventListener("rating:changed", function (event) {
    if (progressBox) refreshProgress();
    var card = cardOf(event.detail && event.detail.form);
    if (!live || !card) return;
    card.classList.add("is-done");
    announce("Saved. The card stays here; use Refresh to rank your list again with this rating.");
  });
  document.addEventListener("watchlist:changed", function (event) {
    var card = cardOf(event.detail.form);
    if (live && card) card.classList.toggle("is-done", event.detail.added);
  });

  // "Not interested" on a recommendation card: post in the background and fold the card to a line
  // with an Undo button, which takes focus, so neither the list nor the member's place moves.
  function post(form) {
    return fetch(form.getAttribute("action"), {  // getAttribute: an input named "action" shadows form.action
      method: "POST", body: new FormData(form), credentials: "same-origin", headers: ajaxHeaders
    }).then(function (response) { return response.text().then(function (text) { return {ok: response.ok, text: text}; }); });
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var card = cardOf(form);
    if (!live || !card || !form.matches(".not-interested-form")) return;
    event.preventDefault();
    post(form).then(function (result) {
      if (!result.ok) { announce(result.text); return; }
      var title = card.querySelector(".card-title").textContent;
      var kept = Array.prototype.slice.call(card.childNodes);
      kept.forEach(function (node) { node.remove(); });
      card.classList.add("is-hidden");
      var line = document.createElement("p");
      line.className = "hidden-note";
      line.textContent = "Hidden: " + title + " will not be recommended again. ";
      var undo = document.createElement("button");
      undo.type = "button";
      undo.className = "link-button";
      undo.textContent = "Undo";
      undo.setAttribute("aria-label", "Undo: show " + title + " again");
      line.appendChild(undo);
      card.appendChild(line);
      undo.focus();
      announce(result.text);
      undo.addEventListener("click", function () {
        form.querySelector("input[name=action]").value = "remove";
        post(form).then(function (again) {
          form.querySelector("input[name=action]").value = "add";
          if (!again.ok) { announce(again.text); return; }
          line.remove();
          card.classList.remove("is-hidden");
          kept.forEach(function (node) { card.appendChild(node); });
          var link = card.querySelector(".card-title");
          if (link) link.focus();
          announce(again.text);
        });
      });
    });
  });
})();
