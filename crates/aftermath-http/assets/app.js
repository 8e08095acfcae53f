// Aftermath web pages: optional enhancements. Every page works without this file.
//
// Live timeline: on an open incident's page, `section#timeline[data-live-seconds]` is
// re-fetched every few seconds and swapped in place, so a manager watching an incident
// sees responders' notes arrive without reloading.
"use strict";

(function () {
  var timeline = document.getElementById("timeline");
  if (!timeline || !timeline.dataset.liveSeconds) {
    return;
  }
  var seconds = Math.max(5, parseInt(timeline.dataset.liveSeconds, 10) || 15);
  var inFlight = false;

  function refresh() {
    if (inFlight || document.hidden) {
      return;
    }
    inFlight = true;
    fetch(window.location.pathname + window.location.search, {
      credentials: "same-origin",
      headers: { Accept: "text/html" },
    })
      .then(function (response) {
        // A redirect (to sign-in) or an error: keep what is shown, try again later.
        if (!response.ok || response.redirected) {
          return null;
        }
        return response.text();
      })
      .then(function (text) {
        if (!text) {
          return;
        }
        var fresh = new DOMParser().parseFromString(text, "text/html").getElementById("timeline");
        var current = document.getElementById("timeline");
        if (fresh && current) {
          current.replaceWith(document.importNode(fresh, true));
          // The incident was resolved or closed: its timeline is final.
          if (!fresh.dataset.liveSeconds) {
            window.clearInterval(timer);
          }
        }
      })
      .catch(function () {
        /* offline for a moment: the next tick tries again */
      })
      .finally(function () {
        inFlight = false;
      });
  }

  var timer = window.setInterval(refresh, seconds * 1000);
})();
