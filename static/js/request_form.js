// Progressive enhancement: show only the questions that belong to the chosen request type, and
// move focus to the error summary after a failed submission. Without JavaScript every question
// stays visible and the form works the same.
(function () {
  "use strict";
  var radios = document.querySelectorAll('input[name="request_type"]');
  var sections = document.querySelectorAll(".conditional");
  function update() {
    var chosen = document.querySelector('input[name="request_type"]:checked');
    sections.forEach(function (section) {
      section.hidden = !chosen || chosen.value !== section.dataset.for;
    });
  }
  radios.forEach(function (radio) { radio.addEventListener("change", update); });
  update();
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();
