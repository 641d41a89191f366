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
    /// Forgets what the user approved for the client, for every resource (the user revoked the
    /// app): its next request shows the consent page again.
    func forgetConsents(userID: String, clientID: ClientID) async throws
}

/// When consent may be remembered and reused (RFC 8252 §8.6; docs/threat-model.md).
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

    /// Scope tokens the consent page marks as new (step-up), for any client: what the request asks
    /// for beyond what the user already approved for this client and resource, as the remembered
    /// consent records it (clients ``remembers(_:)`` allows) and as the user's live grants for the
    /// same client and resource hold it. With neither, this is a first approval and nothing is
    /// marked. Marking never skips the page: public clients always see it (RFC 8252 §8.6).
    ///
    /// - Parameters:
    ///   - record: the remembered consent; ignored unless the client may have it remembered.
    ///   - grants: the user's grants (``GrantStore/grants(of:)`` with `.user(id:)`); revoked,
    ///     expired, idle-expired and other clients' or resources' grants are left out here.
    public static func newTokens(
        in request: AuthorizationRequest, for client: Client, remembered record: ConsentRecord?,
        grants: [Grant], now: Date
    ) -> Set<String> {
        var approved: [String] = []
        var hasApproval = false
        if remembers(client), let record {
            approved += record.scope.tokens
            hasApproval = true
        }
        for grant in grants where isLive(grant, now: now) && grant.clientID == client.clientID && grant.resource == request.resource {
            approved += grant.scope.tokens
            hasApproval = true
        }
        guard hasApproval else { return [] }
        return Set(request.scope.tokens(notIn: Scope(validatedTokens: approved)))
    }

    /// Whether `grant` still stands: not revoked, within its absolute and idle lifetimes
    /// (docs/threat-model.md).
    static func isLive(_ grant: Grant, now: Date) -> Bool {
        grant.revokedAt == nil && now < grant.expiresAt && now < grant.idleExpiresAt
    }
}
