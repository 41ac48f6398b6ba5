// Public gate board: poll /board.json every 2 s and update the page in place (text only, so
// nothing from the data is ever parsed as HTML); the clock ticks from the box's time.
(function () {
  "use strict";
  var body = document.body;
  var offset = Number(body.getAttribute("data-now")) - Date.now();
  var clock = document.getElementById("board-clock");

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function tick() {
    // Asia/Shanghai is UTC+8 all year: no time-zone database needed in the browser.
    var d = new Date(Date.now() + offset + 8 * 3600 * 1000);
    clock.textContent = d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) +
      " " + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds());
  }

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  var VERDICTS = { allow: 1, deny: 1, review: 1 };
  var ALERTS = { none: 1, yellow: 1, orange: 1, red: 1 };

  function render(board) {
    offset = board.now_ms - Date.now();
    document.getElementById("board-offline").textContent = board.offline_text;
    var alert = document.getElementById("board-alert");
    alert.textContent = board.alert_label;
    alert.className = "badge big alert-" + (ALERTS[board.alert_level] ? board.alert_level : "unknown");
    document.getElementById("board-in").textContent = String(board.today_in);
    document.getElementById("board-out").textContent = String(board.today_out);
    var rows = document.getElementById("board-rows");
    var fresh = document.createDocumentFragment();
    board.passages.forEach(function (p) {
      var tr = document.createElement("tr");
      cell(tr, p.time);
      cell(tr, p.plate).className = "plate-cell";
      cell(tr, p.direction);
      cell(tr, p.stage);
      var badge = document.createElement("span");
      badge.className = "badge verdict-" + (VERDICTS[p.verdict_class] ? p.verdict_class : "unknown");
      badge.textContent = p.verdict;
      cell(tr, "").appendChild(badge);
      fresh.appendChild(tr);
    });
    rows.replaceChildren(fresh);
  }

  function poll() {
    fetch("/board.json", { cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (board) { if (board) { render(board); } })
      .catch(function () { /* keep showing the last data; the next poll retries */ });
  }

  tick();
  window.setInterval(tick, 1000);
  window.setInterval(poll, 2000);
})();
