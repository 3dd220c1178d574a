// Runs in <head> before paint: apply the stored light/dark choice (none = follow the system).
(function () {
  try {
    var choice = localStorage.getItem("flowctl-theme");
    if (choice === "light" || choice === "dark") document.documentElement.setAttribute("data-theme", choice);
  } catch (e) { /* storage disabled: follow the system */ }
})();
