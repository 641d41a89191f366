#!/usr/bin/env python3
"""A FastMCP server (Python) protected by Pixy: the notes example of Examples/NotesMCP in Python.

    pip install "fastmcp>=4.2,<5"
    python3 Examples/fastmcp_server.py --issuer http://127.0.0.1:8080 --port 8001
    python3 Examples/mcp_client.py http://127.0.0.1:8001/mcp --call whoami --call add_note='{"text":"hello"}' --call list_notes

Pixy issues the access tokens; this server only verifies them (RFC 9068 JWTs, ES256) against
Pixy's published keys (`<issuer>/jwks.json`), checks `iss` and that `aud` is this server's MCP URL
(the `resource` clients ask Pixy for, RFC 8707), and publishes its Protected Resource Metadata
(RFC 9728) naming Pixy, so MCP clients find where to sign in. `whoami` and `list_notes` need scope
`read`, `add_note` needs `write`; a token without it gets an insufficient_scope answer and the
client asks again for more (RFC 6750 §3.1).
"""
import argparse
import urllib.parse as up

from fastmcp import FastMCP
from fastmcp.server.auth import RemoteAuthProvider, require_scopes
from fastmcp.server.auth.providers.jwt import JWTVerifier
from fastmcp.server.dependencies import get_access_token
from starlette.requests import Request
from starlette.responses import PlainTextResponse


def build(issuer: str, public_url: str) -> FastMCP:
    """The server: `public_url` is where clients reach it (scheme, host and port, no path)."""
    issuer = issuer.rstrip("/")
    public_url = public_url.rstrip("/")
    mcp_url = public_url + "/mcp"
    verifier = JWTVerifier(
        jwks_uri=issuer + "/jwks.json",  # Pixy's JWKS; keys are fetched again when a new kid appears
        issuer=issuer,
        audience=mcp_url,  # tokens minted for another resource are refused (401)
        algorithm="ES256",
    )
    auth = RemoteAuthProvider(
        token_verifier=verifier,
        authorization_servers=[issuer],
        base_url=public_url,
        scopes_supported=["read", "write"],
        resource_name="Pixy FastMCP notes",
    )
    mcp = FastMCP("Pixy FastMCP notes", auth=auth)
    notes: list[str] = []

    @mcp.tool(auth=require_scopes("read"))
    def whoami() -> str:
        """Who the token belongs to."""
        token = get_access_token()
        return f"user {token.claims.get('sub')}, client {token.client_id}, scopes {' '.join(sorted(token.scopes))}"

    @mcp.tool(auth=require_scopes("read"))
    def list_notes() -> str:
        """The notes saved so far."""
        return "\n".join(f"{number}. {text}" for number, text in enumerate(notes, 1)) or "no notes"

    @mcp.tool(auth=require_scopes("write"))
    def add_note(text: str) -> str:
        """Saves a note."""
        notes.append(text)
        return f"saved note {len(notes)}"

    @mcp.custom_route("/health", methods=["GET"])
    async def health(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return mcp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--issuer", required=True, help="Pixy's issuer URL, exactly as in its metadata")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8001, help="port to bind (default 8001)")
    parser.add_argument("--public-url", help="how clients reach this server, e.g. https://notes.example.com "
                                             "(default http://<host>:<port>); the resource is <public-url>/mcp")
    args = parser.parse_args()
    public_url = args.public_url or f"http://{args.host}:{args.port}"
    public_host = up.urlparse(public_url).hostname
    allowed_hosts = [public_host] if public_host not in ("127.0.0.1", "localhost", args.host) else None
    build(args.issuer, public_url).run(transport="http", host=args.host, port=args.port, path="/mcp",
                                       show_banner=False, allowed_hosts=allowed_hosts)


if __name__ == "__main__":
    main()
