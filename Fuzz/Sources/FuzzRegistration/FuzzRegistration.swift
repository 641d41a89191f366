// Fuzz target: dynamic client registration metadata (RFC 7591 §2, §3;
// Sources/PixyCore/RFC7591/ClientRegistration.swift): JSON decoding and validation.
//
// Invariants:
// - decoding never crashes; validation fails only with invalid_redirect_uri or
//   invalid_client_metadata (RFC 7591 §3.2.2);
// - an accepted client has 1...10 redirect URIs, each accepted by RedirectURIPolicy; grant types
//   without repeats that include authorization_code; a supported scope; short text fields
//   without control characters; an https client_uri of printable ASCII; and it is dynamically
//   registered, so it never skips consent (RFC 8252 §8.6);
// - the registration response, sent back as metadata, is accepted again and describes the same
//   client (same registration fingerprint): re-registering what the server answered is stable.
import Foundation
import FuzzSupport
@testable import PixyCore
import PixyModel

let policy = ServerPolicy(issuer: "https://auth.example.com", scopesSupported: Scope(validatedTokens: ["read", "write", "admin"]))
let now = Date(timeIntervalSince1970: 1_700_000_000)

func checkAccepted(_ client: Client, from metadata: ClientMetadataRequest) {
    require(
        (1...ClientRegistrar.maximumRedirectURIs).contains(client.redirectURIs.count), "accepted \(client.redirectURIs.count) redirect URIs"
    )
    for uri in client.redirectURIs {
        do { try RedirectURIPolicy.validate(uri) } catch { require(false, "accepted a redirect URI the policy refuses: \(uri)") }
        require(isPrintableASCII(uri), "accepted a redirect URI with control characters")
    }
    require(client.grantTypes.contains(.authorizationCode), "accepted grant types without authorization_code")
    require(Set(client.grantTypes).count == client.grantTypes.count, "kept repeated grant types")
    require(
        client.tokenEndpointAuthMethod.rawValue == (metadata.tokenEndpointAuthMethod ?? "client_secret_basic"),
        "auth method changed from \(metadata.tokenEndpointAuthMethod ?? "default")")
    if let scope = client.scope {
        require(scope.isSubset(of: policy.scopesSupported), "accepted unsupported scope \(scope)")
        require(Scope(parsing: scope.description) == scope, "scope does not survive its wire form")
    }
    for text in [client.clientName, client.softwareID, client.softwareVersion] {
        guard let text else { continue }
        require(text.count <= ClientRegistrar.maximumTextLength, "accepted a text field of \(text.count) characters")
        require(!text.unicodeScalars.contains { $0.properties.generalCategory == .control }, "accepted a control character in text")
    }
    if let uri = client.clientURI {
        require(uri.hasPrefix("https://") && isPrintableASCII(uri), "accepted client_uri \(uri)")
    }
    require(client.isDynamicallyRegistered && !client.maySkipConsent, "a registered client may skip consent")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRegistration(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    guard let metadata = try? JSONDecoder().decode(ClientMetadataRequest.self, from: data) else { return 0 }
    let client: Client
    do {
        client = try ClientRegistrar.validateMetadata(metadata, policy: policy, now: now)
    } catch {
        require(error.code == .invalidRedirectURI || error.code == .invalidClientMetadata, "unexpected error code \(error.code)")
        return 0
    }
    checkAccepted(client, from: metadata)

    // The response, read back as registration metadata, describes the same client.
    let registrar = ClientRegistrar(clients: InMemoryStore(), policy: policy, clock: SystemWallClock())
    let response = registrar.response(for: client, secret: client.isPublic ? nil : "secret")
    let encoded: Data
    do { encoded = try JSONEncoder().encode(response) } catch { require(false, "response does not encode: \(error)"); return 0 }
    guard let again = try? JSONDecoder().decode(ClientMetadataRequest.self, from: encoded) else {
        require(false, "response does not decode as metadata: \(String(decoding: encoded, as: UTF8.self))")
        return 0
    }
    do {
        let second = try ClientRegistrar.validateMetadata(again, policy: policy, now: now)
        require(
            ClientRegistrar.fingerprint(of: second) == ClientRegistrar.fingerprint(of: client),
            "re-registering the response describes another client")
        require(
            second.redirectURIs == client.redirectURIs && second.scope == client.scope && second.clientURI == client.clientURI,
            "re-registering the response changed the metadata")
    } catch {
        require(false, "the registration response is refused as metadata: \(error)")
    }
    return 0
}
