import Logging
import PixyModel

/// The endpoints where clients talk to the server directly: token (RFC 6749 §3.2), revocation
/// (RFC 7009), introspection (RFC 7662) and registration (RFC 7591).
extension OAuthServer {
    /// `POST /token`: authenticates the client and runs the grant.
    public func token(_ request: ClientAuthenticated<TokenRequest>) async -> Result<TokenResponse, OAuthError> {
        let result: Result<TokenResponse, OAuthError>
        do { result = .success(try await tokenEndpoint.handle(request)) } catch { result = .failure(error) }
        telemetry.tokenRequest(grantType: request.body.grantType, outcome: result)
        return result
    }

    /// `POST /revoke`: the outcome is for the log; the client always hears 200 (RFC 7009 §2.2).
    public func revoke(_ request: ClientAuthenticated<RevocationRequest>) async -> Result<TokenRevocation.Outcome, OAuthError> {
        do { return .success(try await revocation.handle(request)) } catch { return .failure(error) }
    }

    /// `POST /introspect`: for clients the operator marked as resource servers (RFC 7662 §2.1).
    public func introspect(_ request: ClientAuthenticated<IntrospectionRequest>) async -> Result<IntrospectionResponse, OAuthError> {
        do { return .success(try await introspection.handle(request)) } catch { return .failure(error) }
    }

    /// `POST /register`: validates and stores a client (RFC 7591 §3). Only a registration that
    /// creates a client counts against the caller's limit; when it is reached the error's
    /// condition is ``OAuthError/Condition/rateLimited(retryAfter:)``.
    public func register(_ metadata: ClientMetadataRequest, caller: Caller) async -> Result<ClientRegistrar.Registration, OAuthError> {
        let limiter = limits.registration
        do {
            let registration = try await registrar.register(metadata) {
                let decision = try await limiter.take(caller.source)
                guard decision.isAllowed else { throw RegistrationLimitExceeded(retryAfter: decision.retryAfter) }
            }
            caller.logger.info(
                registration.isNew ? "client registered" : "identical registration: existing client returned",
                metadata: ["client_id": "\(registration.response.clientID)"])
            telemetry.registration(registration.isNew ? .created : .reused)
            return .success(registration)
        } catch let error as OAuthError {
            telemetry.registration(error.code == .serverError || error.code == .temporarilyUnavailable ? .error : .refused)
            return .failure(error)
        } catch let limit as RegistrationLimitExceeded {
            telemetry.registration(.rateLimited)
            caller.logger.notice("registration rate limit reached", metadata: ["source": "\(caller.source)"])
            return .failure(
                OAuthError(
                    .temporarilyUnavailable, "Too many registrations from this address; try again later.",
                    condition: .rateLimited(retryAfter: limit.retryAfter)))
        } catch {
            telemetry.registration(.error)
            caller.logger.error("registration failed", metadata: ["error": "\(error)"])
            return .failure(.storageFailure(error, while: "registration"))
        }
    }
}
