// Keyboard shortcuts on a conflict page: 1..9 accept version N, c consensus, a ambiguous,
// e escalate, j / k next / previous. Typing in a field never triggers them; the buttons
// work without this script too.
// The edit panel: t opens / closes it, f picks the next annotator to start from, ArrowDown /
// ArrowUp select a region, d drops / keeps it, r types its new class, [ / ] move its start,
// { / } move its end (one character for spans, 0.1 s for segments), s applies the edit.
// Every change redraws the preview (POST /api/preview/N, drawn by the server's renderer).
(function () {
  "use strict";
  var form = document.getElementById("decide");
  var box = document.getElementById("conflict");
  var panel = document.getElementById("edit-panel");
  var from = document.getElementById("edit-from");
  var preview = document.getElementById("edit-preview");
  var selected = 0;
  var timer = null;

  function tables() { return panel ? panel.querySelectorAll("table.edit-regions") : []; }
  function current() {
    var ts = tables();
    for (var i = 0; i < ts.length; i++) if (!ts[i].hidden) return ts[i];
    return null;
  }
  function rows() { var t = current(); return t ? t.querySelectorAll("tr.region") : []; }

  function showFrom() {
    // only the chosen annotator's region fields are enabled (and so sent)
    var ts = tables();
    for (var i = 0; i < ts.length; i++) {
      var on = ts[i].dataset.from === from.value;
      ts[i].hidden = !on;
      var ins = ts[i].querySelectorAll("input");
      for (var j = 0; j < ins.length; j++) ins[j].disabled = !on;
      var n = panel.querySelector('input.edit-n[data-ai="' + ts[i].dataset.ai + '"]');
      if (n) n.disabled = !on;
    }
    select(0);
    refresh();
  }

  function select(i) {
    var rs = rows();
    for (var j = 0; j < rs.length; j++) rs[j].classList.toggle("selected", j === i);
    selected = rs.length ? Math.max(0, Math.min(i, rs.length - 1)) : 0;
    if (rs.length) rs[selected].classList.add("selected");
  }

  function refresh() {
    if (!preview || !form || !panel.open) return;
    clearTimeout(timer);
    timer = setTimeout(function () {
      var data = new FormData(form);
      data.set("choice", "edit");
      fetch("/api/preview/" + box.dataset.n, { method: "POST", body: data, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (j) {
          if (j.error) { preview.textContent = j.error; preview.classList.add("error"); }
          else { preview.innerHTML = j.html; preview.classList.remove("error"); }
          preview.dataset.state = j.error ? "error" : "ok";
          preview.dataset.regions = j.error ? "" : String(j.n_regions);
        });
    }, 120);
  }

  function nudge(cls, sign) {
    var r = rows()[selected];
    var input = r && r.querySelector("input." + cls);
    if (!input) return;
    var step = parseFloat(input.step) || 1;
    var v = Math.round((parseFloat(input.value || "0") + sign * step) * 1000) / 1000;
    input.value = String(v);
    refresh();
  }

  if (panel && from) {
    from.addEventListener("change", showFrom);
    panel.addEventListener("toggle", function () { if (panel.open) { select(selected); refresh(); } });
    panel.addEventListener("input", refresh);
    panel.addEventListener("change", refresh);
  }

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
    if (panel && ev.key === "t") { ev.preventDefault(); panel.open = !panel.open; return; }
    if (panel && panel.open) {
      var r = rows()[selected];
      var handled = true;
      if (ev.key === "f" && from) {
        from.selectedIndex = (from.selectedIndex + 1) % from.options.length;
        showFrom();
      } else if (ev.key === "ArrowDown") select(selected + 1);
      else if (ev.key === "ArrowUp") select(selected - 1);
      else if (ev.key === "d" && r) {
        var keep = r.querySelector('input[type="checkbox"]');
        if (keep) { keep.checked = !keep.checked; refresh(); }
      } else if (ev.key === "r" && r) {
        var lab = r.querySelector('input[list="labels"]');
        if (lab) lab.focus();
      } else if (ev.key === "[") nudge("start", -1);
      else if (ev.key === "]") nudge("start", 1);
      else if (ev.key === "{") nudge("end", -1);
      else if (ev.key === "}") nudge("end", 1);
      else if (ev.key === "s") form.requestSubmit(document.getElementById("apply-edit"));
      else handled = false;
      if (handled) { ev.preventDefault(); return; }
    }
    var btn = form.querySelector('button[data-key="' + ev.key + '"]');
    if (btn) { ev.preventDefault(); form.requestSubmit(btn); }
  });
})();
