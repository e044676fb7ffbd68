// Times are rendered in UTC (<time class="local" datetime="ISO">); show them
// in the reader's own time zone, with the zone's name.
(function () {
  function pad(n) { return String(n).padStart(2, "0"); }
  function localise(root) {
    var zone = "";
    try {
      zone = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" })
        .formatToParts(new Date()).filter(function (p) { return p.type === "timeZoneName"; })
        .map(function (p) { return p.value; })[0] || "";
    } catch (e) { zone = ""; }
    root.querySelectorAll("time.local[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d.getTime())) { return; }
      el.title = el.textContent;
      el.textContent = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) +
        " " + pad(d.getHours()) + ":" + pad(d.getMinutes()) + (zone ? " " + zone : "");
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { localise(document); });
  } else {
    localise(document);
  }
})();
