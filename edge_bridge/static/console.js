// Guard console: poll /state.json every 2 s and reload when something shown changed,
// unless the guard is typing (a focused field or a non-empty form): then just say so.
(function () {
  "use strict";
  var body = document.body;
  var shown = body.getAttribute("data-changes");
  var hold = body.getAttribute("data-hold") === "1";
  var noticeNew = document.getElementById("notice-new");
  var noticeLink = document.getElementById("notice-link");
  var depth = document.getElementById("outbox-depth");

  function typing() {
    var active = document.activeElement;
    if (active && /^(TEXTAREA|INPUT|SELECT)$/.test(active.tagName) && active.type !== "hidden") {
      return true;
    }
    var fields = document.querySelectorAll(".guard-form textarea, .guard-form input[type=text]");
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].value.trim() !== "") { return true; }
    }
    return false;
  }

  function poll() {
    fetch("/state.json", { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status === 401) { window.location.assign("/login"); return null; }
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      })
      .then(function (state) {
        if (state === null) { return; }
        noticeLink.hidden = true;
        if (depth) { depth.textContent = String(state.outbox_depth); }
        if (String(state.changes) === shown) { return; }
        if (hold || typing()) { noticeNew.hidden = false; return; }
        window.location.replace("/");
      })
      .catch(function () { noticeLink.hidden = false; });
  }

  window.setInterval(poll, 2000);
})();
