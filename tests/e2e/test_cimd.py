"""Live: Client ID Metadata Documents fetched by the real binary over HTTPS from a loopback test
server with a test CA that Pixy is configured to trust (--cimd-ca-file; docs/security.md §7)."""
import base64
import datetime
import hashlib
import http.server
import ipaddress
import json
import re
import ssl
import threading
import urllib.parse as up

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import TIMEOUT, PixyServer, login_session, query_of


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def make_ca_and_leaf(directory):
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Pixy test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "leaf.pem", directory / "leaf.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return ca_path, cert_path, key_path


class DocumentHandler(http.server.BaseHTTPRequestHandler):
    """Serves a client metadata document whose client_id is the URL it was requested at
    (/oauth/client.json), or a document naming another URL (/oauth/mismatch.json)."""
    requests: list[str] = []

    def do_GET(self):
        DocumentHandler.requests.append(f"{self.headers['Host']}{self.path}")
        url = f"https://{self.headers['Host']}{self.path}"
        client_id = url if self.path == "/oauth/client.json" else "https://elsewhere.example/oauth/client.json"
        body = json.dumps({"client_id": client_id, "client_name": "Live CIMD client", "redirect_uris": ["http://127.0.0.1/cb"],
                           "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": "none"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "max-age=300")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def document_server(tmp_path):
    ca, cert, key = make_ca_and_leaf(tmp_path)
    DocumentHandler.requests = []
    httpd = http.server.HTTPServer(("127.0.0.1", 0), DocumentHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], ca
    httpd.shutdown()


def test_metadata_document_client_completes_a_flow(seeded, document_server):
    port, ca = document_server
    server = PixyServer(seeded, extra=("--cimd-allow-host", "localhost", "--cimd-ca-file", str(ca))).start()
    try:
        assert httpx.get(f"{server.base}/.well-known/oauth-authorization-server", timeout=TIMEOUT).json()["client_id_metadata_document_supported"] is True
        client_id = f"https://localhost:{port}/oauth/client.json"
        verifier = "c" * 50
        query = up.urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": "http://127.0.0.1:7777/cb",
                              "code_challenge": s256(verifier), "code_challenge_method": "S256", "scope": "read", "state": "s"})
        browser, response = login_session(server.base, query)
        consent = browser.get(response.headers["location"])
        assert f"localhost" in consent.text and "Live CIMD client" in consent.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', consent.text).group(1)
        action = re.search(r'<form method="post" action="([^"]+)"', consent.text).group(1)
        approved = browser.post(action, data={"csrf_token": csrf, "decision": "approve"})
        code = query_of(approved.headers["location"])["code"]
        token = httpx.post(f"{server.base}/token", data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                                                         "client_id": client_id}, timeout=TIMEOUT)
        assert token.status_code == 200, token.text
        assert token.json()["refresh_token"]

        mismatch = f"https://localhost:{port}/oauth/mismatch.json"
        refused = httpx.get(f"{server.base}/authorize?" + up.urlencode({
            "response_type": "code", "client_id": mismatch, "redirect_uri": "http://127.0.0.1:7777/cb",
            "code_challenge": s256(verifier), "code_challenge_method": "S256"}), timeout=TIMEOUT)
        assert refused.status_code == 400 and "location" not in refused.headers

        # 127.0.0.1 is loopback and not on the allow-list: refused before any connection (SSRF guard).
        guarded = f"https://127.0.0.1:{port}/oauth/client.json"
        blocked = httpx.get(f"{server.base}/authorize?" + up.urlencode({
            "response_type": "code", "client_id": guarded, "redirect_uri": "http://127.0.0.1:7777/cb",
            "code_challenge": s256(verifier), "code_challenge_method": "S256"}), timeout=TIMEOUT)
        assert blocked.status_code == 400
        assert not any(r.startswith("127.0.0.1") for r in DocumentHandler.requests)
        assert sum(1 for r in DocumentHandler.requests if r.endswith("/oauth/client.json")) == 1, "cached"
    finally:
        server.stop()
