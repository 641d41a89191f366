/// The login, consent and error pages as mustache templates. Kept in Swift so the binary carries
/// them (no resource bundle to lose). `{{x}}` HTML-escapes; no triple-mustache is used anywhere,
/// so no client-supplied text is ever rendered raw (SECURITY.md §7).
enum Templates {
    static let style = """
    <style>
      :root { color-scheme: light dark; --fg:#1d1d1f; --bg:#f5f5f7; --card:#fff; --muted:#6e6e73; --accent:#0a58ca; --line:#d2d2d7; --bad:#b3261e; }
      @media (prefers-color-scheme: dark) { :root { --fg:#f5f5f7; --bg:#111; --card:#1c1c1e; --muted:#a1a1a6; --accent:#6ea8fe; --line:#3a3a3c; --bad:#f2b8b5; } }
      * { box-sizing: border-box; }
      body { margin:0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg); background:var(--bg); }
      main { max-width: 26rem; margin: 8vh auto; padding: 2rem; background:var(--card); border:1px solid var(--line); border-radius: 12px; }
      h1 { font-size: 1.35rem; margin: 0 0 .25rem; }
      p.lead { color: var(--muted); margin: 0 0 1.5rem; }
      label { display:block; font-weight:600; margin: 1rem 0 .35rem; }
      input[type=text], input[type=password] { width:100%; padding:.6rem .7rem; font:inherit; border:1px solid var(--line); border-radius:8px; background:transparent; color:inherit; }
      input:focus, button:focus { outline: 3px solid var(--accent); outline-offset: 1px; }
      .actions { display:flex; gap:.75rem; margin-top:1.5rem; }
      button { flex:1; padding:.65rem 1rem; font:inherit; font-weight:600; border-radius:8px; border:1px solid var(--line); background:transparent; color:inherit; cursor:pointer; }
      button.primary { background:var(--accent); border-color:var(--accent); color:#fff; }
      .error { color: var(--bad); border:1px solid var(--bad); border-radius:8px; padding:.6rem .8rem; margin: 0 0 1rem; }
      dl { margin: 1rem 0; } dt { font-weight:600; margin-top:.75rem; } dd { margin: .15rem 0 0; word-break: break-all; }
      ul.scopes { margin:.25rem 0 0; padding-left: 1.2rem; }
      .muted { color: var(--muted); font-size: .9rem; }
      .new { font-size: .75rem; text-transform: uppercase; letter-spacing: .04em; color: var(--accent); }
      code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .9em; }
    </style>
    """

    static let login = """
    <!doctype html>
    <html lang="en">
    <head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Sign in</title>{{> style}}</head>
    <body><main>
      <h1>Sign in</h1>
      <p class="lead">to continue to <strong>{{clientName}}</strong></p>
      {{#metadataHost}}<p class="muted">This application is identified by its metadata published at <strong>{{metadataHost}}</strong>. Continue only if you trust that site.</p>{{/metadataHost}}
      {{#isUnverified}}<p class="muted">This application registered itself. Pixy has not verified who runs it: continue only if you started this sign-in.</p>{{/isUnverified}}
      {{#errorMessage}}<p class="error" role="alert">{{errorMessage}}</p>{{/errorMessage}}
      <form method="post" action="{{action}}">
        <input type="hidden" name="csrf_token" value="{{csrfToken}}">
        <label for="username">Username</label>
        <input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus>
        <label for="password">Password</label>
        <input type="password" id="password" name="password" autocomplete="current-password" required>
        <div class="actions"><button type="submit" class="primary">Sign in</button></div>
      </form>
    </main></body></html>
    """

    static let consent = """
    <!doctype html>
    <html lang="en">
    <head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Allow access?</title>{{> style}}</head>
    <body><main>
      <h1>Allow <strong>{{clientName}}</strong> to access your account?</h1>
      <p class="lead">Signed in as <strong>{{username}}</strong>.</p>
      {{#metadataHost}}<p class="muted">This application is identified by its metadata published at <strong>{{metadataHost}}</strong>. Continue only if you trust that site.</p>{{/metadataHost}}
      {{#isUnverified}}<p class="muted">This application registered itself. Pixy has not verified who runs it: continue only if you started this sign-in.</p>{{/isUnverified}}
      <dl>
        <dt>You will be sent back to</dt><dd><code>{{redirectHost}}</code></dd>
        {{#hasScopes}}<dt>It asks for</dt><dd><ul class="scopes">{{#scopes}}<li><code>{{name}}</code>{{#isNew}} <strong class="new">new</strong>{{/isNew}}</li>{{/scopes}}</ul></dd>{{/hasScopes}}
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
      <h1>This sign-in cannot continue</h1>
      <p class="error" role="alert">{{description}}</p>
      <p class="muted">Error code: <code>{{code}}</code>. Return to the application and start again.</p>
      {{#continueURL}}<p class="muted">The application asked to be told at <code>{{continueHost}}</code>. Pixy has not verified who runs it.</p>
      <p><a href="{{continueURL}}" rel="noreferrer">Continue to {{continueHost}}</a></p>{{/continueURL}}
    </main></body></html>
    """

    static let signedOut = """
    <!doctype html>
    <html lang="en">
    <head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Signed out</title>{{> style}}</head>
    <body><main>
      <h1>{{title}}</h1>
      {{#csrfToken}}<form method="post" action="{{action}}">
        <input type="hidden" name="csrf_token" value="{{csrfToken}}">
        <div class="actions"><button type="submit" class="primary">Sign out</button></div>
      </form>{{/csrfToken}}
    </main></body></html>
    """
}
