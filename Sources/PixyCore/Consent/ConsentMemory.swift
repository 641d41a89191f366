public import struct Foundation.Date

/// What a user has approved for a client (and resource), remembered only where RFC 8252 §8.6
/// allows it: for clients whose identity the server can trust.
public struct ConsentRecord: Sendable, Codable, Equatable {
    /// The union of every scope the user approved for this client and resource.
    public var scope: Scope
    /// When the user last approved.
    public var updatedAt: Date

    /// Creates a record.
    public init(scope: Scope, updatedAt: Date) {
        self.scope = scope
        self.updatedAt = updatedAt
    }
}

/// Durable remembered consent.
public protocol ConsentStore: Sendable {
    /// The remembered consent of `userID` for `clientID` and `resource`.
    func consent(userID: String, clientID: ClientID, resource: String?) async throws -> ConsentRecord?
    /// Stores (replaces) it.
    func saveConsent(_ record: ConsentRecord, userID: String, clientID: ClientID, resource: String?) async throws
}

/// When consent may be remembered and reused (issue 3 §5–6; RFC 8252 §8.6).
public enum ConsentPolicy {
    /// Whether `client` may have its consent remembered: operator-registered confidential clients
    /// only. A public or dynamically registered client's identity cannot be assured, so an
    /// earlier approval could be replayed by an impostor with the same client_id.
    public static func remembers(_ client: Client) -> Bool {
        !client.isPublic && !client.isDynamicallyRegistered
    }

    /// Whether `request` is covered by remembered consent and the page may be skipped.
    public static func isCovered(_ request: AuthorizationRequest, by record: ConsentRecord?, for client: Client) -> Bool {
        guard remembers(client), !request.prompt.contains(.consent), let record else { return false }
        return request.scope.isSubset(of: record.scope)
    }

    /// The scope to remember after an approval: the union of old and new (step-up keeps what was
    /// granted before).
    public static func remembering(_ request: AuthorizationRequest, after record: ConsentRecord?, now: Date) -> ConsentRecord {
        let old = record?.scope.tokens ?? []
        return ConsentRecord(scope: Scope(validatedTokens: old + request.scope.tokens), updatedAt: now)
    }

    /// Scope tokens the consent page should mark as new (not approved before).
    public static func newTokens(in request: AuthorizationRequest, comparedTo record: ConsentRecord?) -> Set<String> {
        guard let record else { return Set(request.scope.tokens) }
        return Set(request.scope.tokens(notIn: record.scope))
    }
}
