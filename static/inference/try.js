// "Fill with a typical row": every field takes its data-typical value (the
// training median of a number, the input example's value otherwise).
(function () {
  var button = document.getElementById("fill-typical");
  if (!button) { return; }
  button.addEventListener("click", function () {
    document.querySelectorAll("#try-form [data-typical]").forEach(function (el) {
      var typical = el.getAttribute("data-typical");
      if (typical !== "") { el.value = typical; }
    });
  });
})();
