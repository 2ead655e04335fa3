// Plotly charts from data the page carries (the CSP allows no inline script): each
// <div data-chart="id-of-a-json-script"> is drawn from <script type="application/json" id=...>
// holding {data, layout}. Charts inside an HTMX swap are drawn when they arrive.
(function () {
  "use strict";
  function draw(root) {
    if (!window.Plotly) { return; }
    (root || document).querySelectorAll("[data-chart]").forEach(function (el) {
      var source = document.getElementById(el.getAttribute("data-chart"));
      if (!source) { return; }
      var figure = JSON.parse(source.textContent);
      var layout = Object.assign({
        margin: { l: 48, r: 16, t: 8, b: 40 }, height: 320, barmode: "group",
        legend: { orientation: "h", y: -0.2 }, font: { family: "inherit", size: 12 },
        paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)"
      }, figure.layout || {});
      window.Plotly.react(el, figure.data, layout, { displayModeBar: false, responsive: true });
      el.setAttribute("data-drawn", "1");
    });
  }
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSwap", function (event) { draw(event.target); });
})();
