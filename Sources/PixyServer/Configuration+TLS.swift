import HummingbirdCore
import HummingbirdTLS
import NIOSSL

extension Configuration {
    /// Plain HTTP/1.1, or TLS when a certificate and key are configured (`--tls-cert`, `--tls-key`).
    func serverBuilder() throws -> HTTPServerBuilder {
        let http1 = HTTPServerBuilder.http1(configuration: connectionLimits.http1Configuration)
        guard let certificateFile = tlsCertificateFile, let keyFile = tlsKeyFile else { return http1 }
        let chain: [NIOSSLCertificateSource]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) }
            key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        } catch {
            throw Invalid(description: "cannot read the TLS certificate or key: \(error)")
        }
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        tls.applicationProtocols = ["http/1.1"]
        return try .tls(http1, tlsConfiguration: tls)
    }
}
