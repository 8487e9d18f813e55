// Passkeys (WebAuthn) for Gerbang's pages. A form marked data-webauthn="register" or "login"
// fetches its options from data-options, asks the browser's authenticator, puts the answer in
// the form's hidden `credential` field and submits the form normally.
(function () {
  "use strict";
  function b64uToBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), u = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) u[i] = bin.charCodeAt(i);
    return u.buffer;
  }
  function bufToB64u(b) {
    var u = new Uint8Array(b), s = "";
    for (var i = 0; i < u.length; i++) s += String.fromCharCode(u[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function ext(c) {
    return c.getClientExtensionResults ? c.getClientExtensionResults() : {};
  }
  function creation(o) {
    var pk = o.publicKey;
    pk.challenge = b64uToBuf(pk.challenge);
    pk.user.id = b64uToBuf(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = b64uToBuf(c.id); });
    return { publicKey: pk };
  }
  function request(o) {
    var pk = o.publicKey;
    pk.challenge = b64uToBuf(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = b64uToBuf(c.id); });
    return { publicKey: pk };
  }
  function registered(c) {
    return {
      id: c.id, rawId: bufToB64u(c.rawId), type: c.type, extensions: ext(c),
      response: {
        attestationObject: bufToB64u(c.response.attestationObject),
        clientDataJSON: bufToB64u(c.response.clientDataJSON)
      }
    };
  }
  function asserted(c) {
    return {
      id: c.id, rawId: bufToB64u(c.rawId), type: c.type, extensions: ext(c),
      response: {
        authenticatorData: bufToB64u(c.response.authenticatorData),
        clientDataJSON: bufToB64u(c.response.clientDataJSON),
        signature: bufToB64u(c.response.signature),
        userHandle: c.response.userHandle ? bufToB64u(c.response.userHandle) : null
      }
    };
  }
  var forms = document.querySelectorAll("form[data-webauthn]");
  if (!window.PublicKeyCredential) {
    forms.forEach(function (f) { f.hidden = true; });
    return;
  }
  forms.forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var status = form.querySelector("[data-status]");
      if (status) status.hidden = true;
      var body = new URLSearchParams(new FormData(form));
      fetch(form.dataset.options, { method: "POST", body: body, credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error("options " + r.status); return r.json(); })
        .then(function (o) {
          return form.dataset.webauthn === "register"
            ? navigator.credentials.create(creation(o)).then(registered)
            : navigator.credentials.get(request(o)).then(asserted);
        })
        .then(function (cred) {
          form.querySelector("input[name=credential]").value = JSON.stringify(cred);
          form.submit();
        })
        .catch(function () { if (status) status.hidden = false; });
    });
  });
})();
