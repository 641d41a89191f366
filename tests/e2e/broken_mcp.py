"""A small MCP server with one deliberate defect in its authorization setup, for `pixy doctor`.
It serves Protected Resource Metadata and, unless it points at another issuer, its own
authorization server metadata; `defect` names what it gets wrong."""
import http.server
import json
import threading

from conftest import free_port

DEFECTS = {
    "no_challenge": "answers requests without a token with 200",
    "no_metadata": "401 without resource_metadata and no metadata anywhere",
    "no_resource_metadata": "401 without resource_metadata (metadata only at the well-known URL)",
    "wrong_resource": "its Protected Resource Metadata names another resource",
    "no_authorization_servers": "its Protected Resource Metadata lists no authorization server",
    "no_s256": "its authorization server metadata lists no code_challenge_methods_supported",
    "plain_advertised": "its authorization server metadata offers plain beside S256",
    "issuer_mismatch": "its authorization server metadata names another issuer",
    "no_registration": "no registration endpoint and no Client ID Metadata Documents",
    "http_endpoints": "a token endpoint on plain http at a public host",
    "no_public_clients": "no token_endpoint_auth_method none",
    "no_cors": "no CORS headers on its metadata",
    "no_iss": "does not promise iss in authorization responses",
    "accepts_any_token": "accepts any bearer token, whatever its audience",
}


class BrokenMCP:
    def __init__(self, defect: str, issuer: str | None = None):
        assert defect in DEFECTS, defect
        self.defect = defect
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = self.base + "/mcp"
        self.issuer = issuer or self.base
        self.server: http.server.ThreadingHTTPServer | None = None

    def metadata(self) -> dict:
        base = self.base
        document = {
            "issuer": base + "/tenant" if self.defect == "issuer_mismatch" else base,
            "authorization_endpoint": base + "/authorize",
            "token_endpoint": "http://auth.example.com/token" if self.defect == "http_endpoints" else base + "/token",
            "registration_endpoint": base + "/register",
            "code_challenge_methods_supported": ["S256", "plain"] if self.defect == "plain_advertised" else ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"] if self.defect == "no_public_clients" else ["none"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "response_types_supported": ["code"],
            "authorization_response_iss_parameter_supported": self.defect != "no_iss",
        }
        if self.defect == "no_s256":
            del document["code_challenge_methods_supported"]
        if self.defect == "no_registration":
            del document["registration_endpoint"]
        return document

    def start(self) -> "BrokenMCP":
        fixture = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status: int, body: dict | None = None, headers: dict | None = None):
                data = json.dumps(body or {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def cors(self) -> dict:
                return {} if fixture.defect == "no_cors" else {"Access-Control-Allow-Origin": "*"}

            def mcp(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                bearer = (self.headers.get("Authorization") or "").startswith("Bearer ")
                if fixture.defect == "no_challenge" or (bearer and fixture.defect == "accepts_any_token"):
                    return self.reply(200, {"jsonrpc": "2.0", "id": 1, "result": {}})
                challenge = 'Bearer error="invalid_token"' if bearer else "Bearer"
                if fixture.defect not in ("no_metadata", "no_resource_metadata"):
                    challenge += f', resource_metadata="{fixture.base}/.well-known/oauth-protected-resource/mcp"'
                self.reply(401, {"error": "invalid_token"}, {"WWW-Authenticate": challenge})

            def do_POST(self):
                if self.path == "/mcp":
                    return self.mcp()
                self.reply(404)

            def do_GET(self):
                if self.path == "/mcp":
                    return self.mcp()
                if self.path == "/.well-known/oauth-protected-resource/mcp" and fixture.defect != "no_metadata":
                    resource = fixture.base + "/other" if fixture.defect == "wrong_resource" else fixture.url
                    servers = [] if fixture.defect == "no_authorization_servers" else [fixture.issuer]
                    return self.reply(200, {"resource": resource, "authorization_servers": servers}, self.cors())
                if self.path == "/.well-known/oauth-authorization-server" and fixture.issuer == fixture.base:
                    return self.reply(200, fixture.metadata(), self.cors())
                self.reply(404)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
