// Juanzong console: ask before a destructive form is sent; follow a running operation until it ends.
document.querySelectorAll("form[data-confirm]").forEach(function (form) {
  form.addEventListener("submit", function (event) {
    if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
  });
});
(function follow() {
  var facts = document.querySelector("[data-operation]");
  var state = document.getElementById("op-state");
  if (!facts || !state || state.dataset.state !== "running") { return; }
  function tick() {
    fetch(facts.dataset.operation, {credentials: "same-origin"}).then(function (r) { return r.json(); })
      .then(function (s) {
        document.getElementById("op-elapsed").textContent = Math.round(s.elapsed) + " s";
        if (s.stage) {
          document.getElementById("op-stage").textContent = s.progress;
          var bar = document.getElementById("op-progress");
          bar.max = Math.max(s.total, 1); bar.value = s.done;
        }
        if (s.state !== "running") { window.location.reload(); } else { window.setTimeout(tick, 1000); }
      });
  }
  window.setTimeout(tick, 1000);
})();
