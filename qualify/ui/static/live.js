// qualify ui: live regions and small conveniences. No inline script anywhere: the page's
// Content-Security-Policy allows scripts from this server only.
//
// A region marked data-live-src is refreshed every data-poll seconds from that address,
// which answers with the region's own HTML rendered by the server (the same template as
// the first render, every value escaped there). The store is read at most once a second
// whatever the number of open pages.
(function () {
  "use strict";
  var poll = Math.max(1, Number(document.body.dataset.poll || "2")) * 1000;
  var regions = Array.prototype.slice.call(document.querySelectorAll("[data-live-src]"));
  var state = document.getElementById("live-state");
  var toggle = document.getElementById("live-toggle");
  var age = document.getElementById("live-age");
  var paused = false;
  var lastOk = Date.now();
  var failing = false;

  function swap(region, html) {
    var template = document.createElement("template");
    template.innerHTML = html; // inert: nothing in a template runs or loads
    region.replaceChildren(template.content);
  }

  function refresh(region) {
    return fetch(region.dataset.liveSrc, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "text/html" },
    }).then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.text();
    }).then(function (html) {
      swap(region, html);
      lastOk = Date.now();
      failing = false;
    }).catch(function () {
      failing = true;
    });
  }

  function tick() {
    if (paused || document.hidden) { return; }
    regions.forEach(refresh);
  }

  function showAge() {
    if (!age) { return; }
    var seconds = Math.round((Date.now() - lastOk) / 1000);
    age.textContent = paused ? "paused" : failing ? "cannot reach the server (" + seconds + "s)" : "updated " + seconds + "s ago";
    age.className = failing ? "warn" : "muted";
  }

  if (regions.length && state && toggle) {
    state.hidden = false;
    toggle.addEventListener("click", function () {
      paused = !paused;
      toggle.setAttribute("aria-pressed", String(!paused));
      toggle.textContent = paused ? "Paused" : "Live";
      if (!paused) { tick(); }
      showAge();
    });
    setInterval(tick, poll);
    setInterval(showAge, 1000);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) { tick(); } });
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-back]"), function (button) {
    button.addEventListener("click", function () { history.back(); });
  });

  // The "ICP of an earlier run" choice: picking a run selects that option.
  var icpRun = document.getElementById("icp-run");
  var icpFromRun = document.getElementById("icp-from-run");
  if (icpRun && icpFromRun) {
    icpRun.addEventListener("change", function () { icpFromRun.checked = true; });
  }
})();
