import PixyModel

/// When the consent page must be shown: always with `prompt=consent`; never for a first-party
/// `--skip-consent` client; otherwise unless remembered consent covers the request, which only
/// pre-registered confidential clients get (RFC 8252 §8.6; ``ConsentPolicy``).
public enum ConsentRequirement {
    /// Whether the consent page must be shown for `request` from `client` to `userID`.
    public static func applies(
        to request: AuthorizationRequest, client: Client, userID: String?,
        consents: any ConsentStore
    ) async throws -> Bool {
        if request.prompt.contains(.consent) { return true }
        if client.maySkipConsent { return false }
        guard let userID, ConsentPolicy.remembers(client) else { return true }
        let record = try await consents.consent(userID: userID, clientID: client.clientID, resource: request.resource)
        return !ConsentPolicy.isCovered(request, by: record, for: client)
    }
}
