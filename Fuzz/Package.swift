// swift-tools-version:5.4
// Tools version 5.4 on purpose: from 5.5 on, SwiftPM renames an executable's entry point to
// `<module>_main` (so tests can link executables) and links with `--defsym main=<module>_main`,
// which fails here: with -parse-as-library the targets have no main; libFuzzer supplies it.
//
// libFuzzer targets for Pixy's parsers (docs/fuzzing.md). A separate package so that the
// sanitizer flags never reach the main build. Build with:
//   swift build --package-path Fuzz -c debug -Xswiftc -sanitize=fuzzer,address \
//     -Xswiftc -parse-as-library -Xswiftc -enable-testing
// or simply run scripts/fuzz.
import PackageDescription

let package = Package(
    name: "pixy-fuzz",
    platforms: [.macOS("15.0")],
    dependencies: [
        // `name:` so the reference does not depend on the checkout directory's name.
        .package(name: "pixy", path: ".."),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    ],
    targets: [
        .target(name: "FuzzSupport"),
        .executableTarget(
            name: "FuzzForm",
            dependencies: ["FuzzSupport", .product(name: "PixyCore", package: "pixy"), .product(name: "PixyModel", package: "pixy")]
        ),
        .executableTarget(
            name: "FuzzRedirectURI",
            dependencies: ["FuzzSupport", .product(name: "PixyCore", package: "pixy")]
        ),
        .executableTarget(
            name: "FuzzRegistration",
            dependencies: ["FuzzSupport", .product(name: "PixyCore", package: "pixy"), .product(name: "PixyModel", package: "pixy")]
        ),
        .executableTarget(
            name: "FuzzCIMD",
            dependencies: ["FuzzSupport", .product(name: "PixyCore", package: "pixy"), .product(name: "PixyModel", package: "pixy")]
        ),
        .executableTarget(
            name: "FuzzHTTPHeaders",
            dependencies: [
                "FuzzSupport",
                .product(name: "PixyHTTP", package: "pixy"),
                .product(name: "PixyCore", package: "pixy"),
                .product(name: "PixyModel", package: "pixy"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "FuzzRESP",
            dependencies: ["FuzzSupport", .product(name: "PixyRESP", package: "pixy"), .product(name: "NIOCore", package: "swift-nio")]
        ),
    ]
)
