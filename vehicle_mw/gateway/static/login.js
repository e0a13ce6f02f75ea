// Dashboard login: POST /api/login sets the HttpOnly session cookie, then the dashboard loads.
"use strict";

document.getElementById("login-form").onsubmit = async e => {
  e.preventDefault();
  const result = document.getElementById("login-result");
  result.textContent = "";
  const r = await fetch("/api/login", {
    method: "POST", headers: { "content-type": "application/json" }, credentials: "same-origin",
    body: JSON.stringify({
      username: document.getElementById("username").value,
      password: document.getElementById("password").value,
    }),
  });
  if (r.ok) { location.replace("/"); return; }
  const body = await r.json().catch(() => ({}));
  result.textContent = "login failed: " + (body.detail || r.status);
};
// enabled only once the handler above is in place, so the form never submits natively
document.getElementById("login-button").disabled = false;
