// Copy buttons for commands. The pages work without this file; it only saves some typing.
"use strict";
document.querySelectorAll("pre[data-copy]").forEach(function (pre) {
  if (!navigator.clipboard) return;
  var button = document.createElement("button");
  button.type = "button";
  button.textContent = "Copy";
  button.setAttribute("aria-label", "Copy: " + (pre.getAttribute("data-label") || "text"));
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(pre.textContent.trim()).then(function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy"; }, 1500);
    });
  });
  pre.parentNode.appendChild(button);
});
