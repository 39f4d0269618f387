// Filters the issue table by severity and code; every row stays in the page, hidden rows are only not shown.
(function () {
  var form = document.getElementById("issue-filter");
  if (!form) { return; }
  var rows = document.querySelectorAll("#issues tbody tr");
  var shown = document.getElementById("issue-shown");
  function apply() {
    var severities = {};
    form.querySelectorAll("input[name=severity]").forEach(function (box) { severities[box.value] = box.checked; });
    var code = form.elements.code.value;
    var visible = 0;
    rows.forEach(function (row) {
      var show = severities[row.dataset.severity] && (!code || row.dataset.code === code);
      row.hidden = !show;
      if (show) { visible += 1; }
    });
    shown.textContent = visible + " of " + rows.length + " issues shown";
  }
  form.addEventListener("change", apply);
  form.addEventListener("submit", function (event) { event.preventDefault(); });
})();
