// Small enhancements for the admin pages; every page works without them.
"use strict";
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-confirm]");
  if (button && !window.confirm(button.dataset.confirm)) {
    event.preventDefault();
  }
});
document.addEventListener("input", (event) => {
  const input = event.target.closest("[data-live-filter]");
  if (!input) return;
  const needle = input.value.trim().toLowerCase();
  for (const row of document.querySelectorAll(`#${input.dataset.liveFilter} tbody tr[data-filter]`)) {
    row.hidden = needle !== "" && !row.dataset.filter.toLowerCase().includes(needle);
  }
});
