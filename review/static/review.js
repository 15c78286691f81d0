// Keyboard shortcuts on a conflict page: 1..9 accept version N, c consensus, a ambiguous,
// e escalate, j / k next / previous. Typing in a field never triggers them; the buttons
// work without this script too.
(function () {
  "use strict";
  var form = document.getElementById("decide");
  var box = document.getElementById("conflict");
  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    if (ev.ctrlKey || ev.metaKey || ev.altKey || !box) return;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) {
      if (ev.key === "Escape") t.blur();  // Esc leaves a field, so the shortcuts work again
      return;
    }
    if (ev.key === "j" && box.dataset.next !== "") { window.location = "/c/" + box.dataset.next; return; }
    if (ev.key === "k" && box.dataset.prev !== "") { window.location = "/c/" + box.dataset.prev; return; }
    if (!form) return;
    var btn = form.querySelector('button[data-key="' + ev.key + '"]');
    if (btn) { ev.preventDefault(); form.requestSubmit(btn); }
  });
})();
