public import Foundation
#if canImport(FoundationNetworking)
    public import FoundationNetworking
#endif
public import MCP
import NIOConcurrencyHelpers
public import PixyClient

/// Plugs ``PixyClient`` into the Swift MCP SDK's `HTTPClientTransport`, so that Swift MCP
/// clients get OAuth on Linux too (the SDK's own code step needs CryptoKit). On a `401` the
/// client refreshes or signs in; on `403 insufficient_scope` it steps up to the union of scopes.
public final class PixyMCPAuthorizer: HTTPClientAuthorizer {
    private let client: PixyClient
    private let token = NIOLockedValueBox<String?>(nil)

    /// An authorizer that gets its tokens from `client`.
    public init(client: PixyClient) { self.client = client }

    /// One retry per challenge kind: a sign-in, then a step-up.
    public var maxAuthorizationAttempts: Int { 3 }

    /// https, or http on a loopback host only (OAuth 2.1 §1.5; RFC 8252 §8.3).
    public func validateEndpointSecurity(for endpoint: URL) throws {
        guard SecureTransport.allows(endpoint) else {
            throw PixyClientError("insecure_endpoint", "\(endpoint.absoluteString) is neither https nor loopback http")
        }
    }

    /// The current token, if one was obtained.
    public func authorizationHeader(for endpoint: URL) -> String? {
        token.withLockedValue { $0 }.map { "Bearer \($0)" }
    }

    /// Gets a token before the first request (sign-in if none is kept), and refreshes one that
    /// is about to expire.
    public func prepareAuthorization(for endpoint: URL, session: URLSession) async throws {
        let fresh = try await client.accessToken(for: endpoint)
        token.withLockedValue { $0 = fresh }
    }

    /// Answers a `401` or `403` from the MCP server.
    public func handleChallenge(
        statusCode: Int, headers: [String: String], endpoint: URL, operationKey: String?, session: URLSession
    ) async throws -> Bool {
        let header = headers.first { $0.key.lowercased() == "www-authenticate" }?.value
        let challenge = header.flatMap(BearerChallenge.init(header:))
        if statusCode == 403, challenge?.error != "insufficient_scope" { return false }
        let fresh = try await client.accessToken(for: endpoint, after: statusCode, challenge: challenge)
        token.withLockedValue { $0 = fresh }
        return true
    }
}

extension HTTPClientTransport {
    /// A transport to the MCP server at `endpoint` that signs in with a new ``PixyClient`` on
    /// first use (the system browser and a loopback redirect) and keeps its tokens in
    /// `tokenFile` if one is given.
    public static func signingIn(to endpoint: String, as clientName: String = "PixyClient", tokenFile: TokenFile? = nil) throws
        -> HTTPClientTransport
    {
        guard let url = URL(string: endpoint), url.scheme == "https" || url.scheme == "http" else {
            throw PixyClientError("invalid_url", "\(endpoint) is not an http(s) URL")
        }
        let client = PixyClient(configuration: .init(clientName: clientName, tokenFile: tokenFile))
        return HTTPClientTransport(endpoint: url, streaming: false, authorizer: PixyMCPAuthorizer(client: client))
    }
}
