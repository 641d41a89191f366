/// The login, consent and error pages as mustache templates. Kept in Swift so the binary carries
/// them (no resource bundle to lose). `{{x}}` HTML-escapes; no triple-mustache is used anywhere,
/// so no client-supplied text is ever rendered raw (docs/security.md §7).
enum Templates {
    /// Colours are custom properties, one set per colour scheme; every text colour meets WCAG 2.x
    /// contrast 4.5:1 on the background it is used on (proved by `PageContrastTests`). Long names,
    /// ids and URLs wrap (`overflow-wrap: anywhere`), so no page scrolls sideways on a phone.
    static let style = """
        <style>
          :root { color-scheme: light dark; --fg:#1d1d1f; --bg:#f5f5f7; --card:#ffffff; --muted:#5f5f64; --accent:#0a58ca; --on-accent:#ffffff; --link:#0a58ca; --line:#c7c7cc; --bad:#b3261e; --bad-bg:#fdecea; }
          @media (prefers-color-scheme: dark) { :root { --fg:#f5f5f7; --bg:#111111; --card:#1c1c1e; --muted:#aeaeb2; --accent:#6ea8fe; --on-accent:#111111; --link:#8ab4ff; --line:#48484a; --bad:#ffb4ab; --bad-bg:#3b1614; } }
          * { box-sizing: border-box; }
          body { margin:0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg); background:var(--bg); }
          main { max-width: 26rem; margin: 8vh auto; padding: 2rem; background:var(--card); border:1px solid var(--line); border-radius: 12px; overflow-wrap: anywhere; }
          @media (max-width: 30rem) { main { margin: 0; padding: 1.25rem; border-width: 0 0 1px; border-radius: 0; } }
          .brand { display:flex; align-items:center; gap:.5rem; font-weight:600; margin: 0 0 1.25rem; padding: 0 0 .75rem; border-bottom:1px solid var(--line); }
          .brand img { height:28px; width:auto; max-width:8rem; }
          h1 { font-size: 1.35rem; margin: 0 0 .25rem; }
          p.lead { color: var(--muted); margin: 0 0 1.5rem; }
          label { display:block; font-weight:600; margin: 1rem 0 .35rem; }
          input[type=text], input[type=password] { width:100%; padding:.6rem .7rem; font:inherit; border:1px solid var(--muted); border-radius:8px; background:transparent; color:inherit; }
          input:focus, button:focus, a:focus { outline: 3px solid var(--accent); outline-offset: 1px; }
          a { color: var(--link); }
          .actions { display:flex; gap:.75rem; margin-top:1.5rem; }
          button { flex:1; padding:.65rem 1rem; font:inherit; font-weight:600; border-radius:8px; border:1px solid var(--muted); background:var(--card); color:var(--fg); cursor:pointer; }
          button.primary { background:var(--accent); border-color:var(--accent); color:var(--on-accent); }
          .error { color: var(--bad); background: var(--bad-bg); border:1px solid var(--bad); border-radius:8px; padding:.6rem .8rem; margin: 0 0 1rem; }
          dl { margin: 1rem 0; } dt { font-weight:600; margin-top:.75rem; } dd { margin: .15rem 0 0; }
          ul.scopes { margin:.25rem 0 0; padding-left: 1.2rem; }
          .muted { color: var(--muted); font-size: .9rem; }
          .new { font-size: .75rem; text-transform: uppercase; letter-spacing: .04em; color: var(--link); }
          h2 { font-size: 1.1rem; margin: 0 0 .25rem; }
          section.app { border-top:1px solid var(--line); padding-top: 1rem; margin-top: 1rem; }
          .notice { border:1px solid var(--line); border-radius:8px; padding:.6rem .8rem; margin: 0 0 1rem; }
          code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .9em; overflow-wrap: anywhere; }
        </style>
        """

    /// The operator's name and logo, above each page's own content and apart from anything the
    /// client asserted about itself (docs/threat-model.md). The logo is decorative: the name is text.
    static let brand = """
        <header class="brand">{{#brandLogo}}<img src="{{brandLogo}}" alt="">{{/brandLogo}}<span>{{brandName}}</span></header>
        """

    static let login = """
        <!doctype html>
        <html lang="en">
        <head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Sign in</title>{{> style}}</head>
        <body><main>
          {{> brand}}
          <h1>Sign in</h1>
          <p class="lead">to continue to <strong>{{clientName}}</strong></p>
          {{#metadataHost}}<p class="muted">This application is identified by its metadata published at <strong>{{metadataHost}}</strong>. Continue only if you trust that site.</p>{{/metadataHost}}
          {{#isUnverified}}<p class="muted">This application registered itself. {{brandName}} has not verified who runs it: continue only if you started this sign-in.</p>{{/isUnverified}}
          {{#errorMessage}}<p class="error" role="alert">{{errorMessage}}</p>{{/errorMessage}}
          {{#hasProviders}}<form method="post" action="{{providerAction}}" class="providers">
            <input type="hidden" name="csrf_token" value="{{csrfToken}}">
            {{#providers}}<div class="actions"><button type="submit" name="provider" value="{{id}}" class="primary">Continue with {{name}}</button></div>{{/providers}}
          </form>{{/hasProviders}}
          {{#showsDivider}}<p class="muted">or with a {{brandName}} account</p>{{/showsDivider}}
          {{#showsPasswordForm}}<form method="post" action="{{action}}">
            <input type="hidden" name="csrf_token" value="{{csrfToken}}">
            <label for="username">Username</label>
            <input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus>
            <label for="password">Password</label>
            <input type="password" id="password" name="password" autocomplete="current-password" required>
            <div class="actions"><button type="submit" class="primary">Sign in</button></div>
          </form>{{/showsPasswordForm}}
        </main></body></html>
        """

    static let consent = """
        <!doctype html>
        <html lang="en">
        <head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Allow access?</title>{{> style}}</head>
        <body><main>
          {{> brand}}
          <h1>Allow <strong>{{clientName}}</strong> to access your account?</h1>
          <p class="lead">Signed in as <strong>{{username}}</strong>. <a href="{{logoutURL}}">Not you? Sign out</a></p>
          {{#metadataHost}}<p class="muted">This application is identified by its metadata published at <strong>{{metadataHost}}</strong>. Continue only if you trust that site.</p>{{/metadataHost}}
          {{#isUnverified}}<p class="muted">This application registered itself. {{brandName}} has not verified who runs it: continue only if you started this sign-in.</p>{{/isUnverified}}
          <dl>
            <dt>You will be sent back to</dt><dd><code>{{redirectHost}}</code></dd>
            {{#hasScopes}}<dt>It asks for</dt><dd><ul class="scopes">{{#scopes}}<li><code>{{name}}</code>{{#isNew}} <strong class="new">new</strong>{{/isNew}}{{#description}}: {{description}}{{/description}}</li>{{/scopes}}</ul></dd>{{/hasScopes}}
            {{#resource}}<dt>For the service</dt><dd><code>{{resource}}</code></dd>{{/resource}}
            <dt>Client ID</dt><dd><code>{{clientID}}</code></dd>
          </dl>
          <form method="post" action="{{action}}">
            <input type="hidden" name="csrf_token" value="{{csrfToken}}">
            <div class="actions">
              <button type="submit" name="decision" value="deny">Deny</button>
              <button type="submit" name="decision" value="approve" class="primary">Allow</button>
            </div>
          </form>
        </main></body></html>
        """

    static let error = """
        <!doctype html>
        <html lang="en">
        <head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Sign-in error</title>{{> style}}</head>
        <body><main>
          {{> brand}}
          <h1>This sign-in cannot continue</h1>
          <p class="error" role="alert">{{description}}</p>
          <p class="muted">Error code: <code>{{code}}</code>. Return to the application and start again.</p>
          {{#continueURL}}<p class="muted">The application asked to be told at <code>{{continueHost}}</code>. {{brandName}} has not verified who runs it.</p>
          <p><a href="{{continueURL}}" rel="noreferrer">Continue to {{continueHost}}</a></p>{{/continueURL}}
        </main></body></html>
        """

    static let signedOut = """
        <!doctype html>
        <html lang="en">
        <head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Signed out</title>{{> style}}</head>
        <body><main>
          {{> brand}}
          <h1>{{title}}</h1>
          {{#lead}}<p class="lead">{{lead}}</p>{{/lead}}
          {{#csrfToken}}<form method="post" action="{{action}}">
            <input type="hidden" name="csrf_token" value="{{csrfToken}}">
            <div class="actions"><button type="submit" class="primary">Sign out</button></div>
          </form>{{/csrfToken}}
        </main></body></html>
        """

    /// `GET /account/apps`: the applications the user approved, each with a revoke button.
    static let connectedApps = """
        <!doctype html>
        <html lang="en">
        <head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Connected apps</title>{{> style}}</head>
        <body><main>
          {{> brand}}
          <h1>Connected apps</h1>
          <p class="lead">Signed in as <strong>{{username}}</strong>. <a href="{{signOutURL}}">Sign out</a></p>
          {{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
          {{^hasApps}}<p>No application can use your account. Applications appear here once you allow them.</p>{{/hasApps}}
          {{#apps}}<section class="app" data-client-id="{{clientID}}">
            <h2>{{name}}</h2>
            {{#metadataHost}}<p class="muted">Identified by its metadata published at <strong>{{metadataHost}}</strong>.</p>{{/metadataHost}}
            {{^metadataHost}}{{#isUnverified}}<p class="muted">This application registered itself; {{brandName}} has not verified who runs it.</p>{{/isUnverified}}{{/metadataHost}}
            <dl>
              {{#hasRedirectHosts}}<dt>Sends you back to</dt><dd>{{#redirectHosts}}<code>{{.}}</code> {{/redirectHosts}}</dd>{{/hasRedirectHosts}}
              {{#hasScopes}}<dt>Access</dt><dd>{{#scopes}}<code>{{.}}</code> {{/scopes}}</dd>{{/hasScopes}}
              {{#hasResources}}<dt>For the service</dt><dd>{{#resources}}<code>{{.}}</code> {{/resources}}</dd>{{/hasResources}}
              <dt>Allowed</dt><dd><time datetime="{{approvedAt}}">{{approvedAtText}}</time></dd>
              <dt>Last used</dt><dd><time datetime="{{lastUsedAt}}">{{lastUsedAtText}}</time></dd>
              <dt>Client ID</dt><dd><code>{{clientID}}</code></dd>
            </dl>
            <form method="post" action="{{revokeAction}}">
              <input type="hidden" name="csrf_token" value="{{csrfToken}}">
              <input type="hidden" name="client_id" value="{{clientID}}">
              <div class="actions"><button type="submit">Revoke access for {{name}}</button></div>
            </form>
          </section>{{/apps}}
        </main></body></html>
        """

    /// `GET /` below the issuer: what this server is and where its metadata is (RFC 8414 §3).
    static let home = """
        <!doctype html>
        <html lang="en">
        <head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{brandName}}</title>{{> style}}</head>
        <body><main>
          {{> brand}}
          <h1>{{brandName}} sign-in service</h1>
          <p class="lead">An OAuth 2.1 authorization server. Applications send you here to sign in; there is nothing to do on this page.</p>
          <dl>
            <dt>Issuer</dt><dd><code>{{issuer}}</code></dd>
            <dt>Metadata</dt><dd><a href="{{metadataPath}}"><code>{{metadataPath}}</code></a></dd>
            <dt>Signing keys</dt><dd><a href="{{jwksPath}}"><code>{{jwksPath}}</code></a></dd>
          </dl>
        </main></body></html>
        """

    /// `GET /favicon.ico`: a small static SVG, so browsers stop asking for a missing icon.
    static let favicon = """
        <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#0a58ca"/>\
        <path d="M11 7h7a6 6 0 0 1 0 12h-3v6h-4z M15 11v4h3a2 2 0 0 0 0-4z" fill="#fff" fill-rule="evenodd"/></svg>
        """
}
