// The public "一厂一策" board, cloud and edge alike (saas/board/page/board.html).
// The server renders the whole page; this script only keeps it current:
//   - the clock ticks every second from the server's time (the screen's own clock may be off);
//   - config "ws" (cloud): a websocket to the hub's viewer feed; each "passages" frame updates
//     the last-vehicle panel at once, a "changed" frame (and every refresh_ms) refetches the
//     board JSON; the socket reconnects by itself with backoff, refetching first;
//   - config "poll" (edge box): the board JSON every interval_ms.
// Data only ever goes into textContent or a class name from a fixed list: never parsed as HTML.
(function () {
  "use strict";

  var config = {};
  try {
    config = JSON.parse(document.getElementById("board-config").textContent || "{}") || {};
  } catch (e) {
    config = {};
  }
  var body = document.body;
  var offset = Number(body.getAttribute("data-now")) - Date.now();
  if (!isFinite(offset)) { offset = 0; }
  var cargo = body.getAttribute("data-cargo") || "";
  var LEVELS = { none: 1, yellow: 1, orange: 1, red: 1 };
  var VERDICTS = { allow: 1, deny: 1, review: 1, unknown: 1 };
  var shownAt = NaN;  // captured_at (ms) of the vehicle on the panel
  var stopped = false;

  function byId(id) { return document.getElementById(id); }

  function setText(id, value) {
    var el = byId(id);
    if (el) { el.textContent = value === null || value === undefined ? "" : String(value); }
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function tick() {
    // Asia/Shanghai is UTC+8 all year: no time-zone database needed in the browser.
    var d = new Date(Date.now() + offset + 8 * 3600 * 1000);
    setText("b-clock", d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" +
      pad(d.getUTCDate()) + " " + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" +
      pad(d.getUTCSeconds()));
  }

  function renderLast(last) {
    var panel = byId("b-last");
    if (!panel) { return; }
    if (!last) {
      panel.className = "b-last verdict-none";
      setText("b-plate", "—");
      setText("b-stage", "");
      setText("b-verdict", "等待车辆");
      setText("b-time", "");
      shownAt = NaN;
      return;
    }
    var css = VERDICTS[last.verdict_class] ? last.verdict_class : "unknown";
    panel.className = "b-last verdict-" + css;
    setText("b-plate", last.plate);
    setText("b-stage", last.stage);
    setText("b-verdict", last.verdict);
    setText("b-time", last.time);
    shownAt = Date.parse(last.captured_at || "");
  }

  function render(board) {
    if (!board || typeof board !== "object") { return; }
    if (typeof board.now_ms === "number") { offset = board.now_ms - Date.now(); }
    if ((board.cargo_url || "") !== cargo) {
      window.location.reload();  // the QR code is drawn on the server
      return;
    }
    setText("b-title", board.title);
    setText("b-offline", board.offline_text);
    setText("b-enterprise", board.enterprise);
    setText("b-district", board.district);
    setText("b-legal", board.legal_representative);
    setText("b-legal-phone", board.legal_phone);
    setText("b-industry", board.industry);
    setText("b-rating", board.rating);
    setText("b-responsible", board.responsible);
    setText("b-responsible-phone", board.responsible_phone);
    setText("b-remarks", board.remarks);
    var alert = byId("b-alert");
    if (alert) { alert.className = "b-alert alert-" + (LEVELS[board.level] ? board.level : "none"); }
    setText("b-headline", board.headline);
    setText("b-started", board.started);
    var list = byId("b-measures");
    if (list && Array.isArray(board.measures)) {
      var fresh = document.createDocumentFragment();
      board.measures.forEach(function (line) {
        var li = document.createElement("li");
        li.textContent = String(line);
        fresh.appendChild(li);
      });
      if (!board.measures.length) {
        var none = document.createElement("li");
        none.className = "b-none";
        none.textContent = "当前无需执行的应急减排措施";
        fresh.appendChild(none);
      }
      while (list.firstChild) { list.removeChild(list.firstChild); }
      list.appendChild(fresh);
    }
    renderLast(board.last || null);
  }

  function expired() {
    // The board's address was rotated (or the site removed): say so instead of going stale.
    stopped = true;
    if (socket) { socket.close(); }
    setText("b-offline", "本公示页地址已更换，请联系企业获取新地址");
  }

  function refresh() {
    if (!config.json) { return Promise.resolve(); }
    return fetch(config.json, { cache: "no-store", credentials: "omit" })
      .then(function (response) {
        if (response.status === 404) { expired(); return null; }
        return response.ok ? response.json() : null;
      })
      .then(function (data) {
        if (!data || stopped) { return; }
        if (data.feed && data.feed.ws) { config.ws = data.feed.ws; }  // a fresh feed token
        render(data);
      })
      .catch(function () { /* keep the last data; the next refresh retries */ });
  }

  function onPassages(passages) {
    if (!Array.isArray(passages)) { return; }
    var newest = null;
    var newestAt = -Infinity;
    passages.forEach(function (p) {
      var at = Date.parse((p && p.captured_at) || "");
      if (p && p.board && at >= newestAt) { newest = p; newestAt = at; }
    });
    // A bridge back from offline uploads its backlog: never replace a newer vehicle.
    if (newest && !(newestAt < shownAt)) { renderLast(newest.board); }
  }

  var socket = null;
  var attempts = 0;

  function reconnectLater() {
    if (stopped) { return; }
    var delay = Math.min(30000, 1000 * Math.pow(2, attempts));
    attempts += 1;
    window.setTimeout(function () {
      refresh().then(connect);  // catch up on what the gap missed, with a fresh token
    }, delay * (0.5 + Math.random() / 2));
  }

  function connect() {
    if (stopped || !config.ws || typeof WebSocket === "undefined") { return; }
    var ws;
    try {
      ws = new WebSocket(config.ws);
    } catch (e) {
      reconnectLater();
      return;
    }
    socket = ws;
    ws.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      if (!message) { return; }
      if (message.type === "hello") { attempts = 0; }
      else if (message.type === "passages") { onPassages(message.passages); }
      else if (message.type === "changed") {
        // a regional alert changes thousands of sites at once: spread the refetches a little
        window.setTimeout(refresh, Math.random() * 1000);
      }
    };
    ws.onclose = function () {
      if (socket === ws) { socket = null; reconnectLater(); }
    };
  }

  tick();
  window.setInterval(tick, 1000);
  var current = byId("b-last");
  if (current) { shownAt = Date.parse(current.getAttribute("data-at") || ""); }
  if (config.mode === "ws") {
    connect();
    window.setInterval(refresh, config.refresh_ms || 60000);
  } else if (config.mode === "poll") {
    window.setInterval(refresh, config.interval_ms || 1000);
  }
})();
