// The API docs page (/api/v1/docs). The document is per tenant and per user (it shows only
// what the user may see), so the page signs in first and then asks for openapi.json with
// the token. A file, not an inline script: the Content-Security-Policy allows no inline
// scripts; the addresses come from the form's data attributes.
"use strict";
(() => {
  const form = document.getElementById("signin");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = new FormData(form);
    const status = document.getElementById("status");
    const tenant = values.get("tenant") || "default";
    const res = await fetch(form.dataset.tokenUrl, {
      method: "POST",
      headers: {"Content-Type": "application/json", "X-Tenant": tenant},
      body: JSON.stringify({username: values.get("username"), password: values.get("password")}),
    });
    const body = await res.json();
    if (!res.ok) { status.textContent = body.error.message; return; }
    status.textContent = "Signed in; the token expires at " + body.expires_at;
    const auth = {"Authorization": "Bearer " + body.token, "X-Tenant": tenant};
    window.SwaggerUIBundle({
      url: form.dataset.openapiUrl,
      dom_id: "#swagger-ui",
      requestInterceptor: (req) => { Object.assign(req.headers, auth); return req; },
    });
  });
})();
