import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import NIOCore
import PixyCore
@testable import PixyHTTP
import PixyModel
import PixyServer
import PixyTesting
import Testing

/// WCAG 2.x relative luminance and contrast ratio (WCAG 2.2, "contrast ratio" and "relative
/// luminance" definitions) of `#rrggbb` colours.
enum WCAG {
    static func luminance(_ hex: String) -> Double {
        let digits = hex.dropFirst()
        let value = Int(digits, radix: 16)!
        let channels = [(value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF].map { Double($0) / 255 }
        let linear = channels.map { $0 <= 0.04045 ? $0 / 12.92 : pow(($0 + 0.055) / 1.055, 2.4) }
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    }

    static func contrast(_ first: String, _ second: String) -> Double {
        let (a, b) = (luminance(first), luminance(second))
        return (max(a, b) + 0.05) / (min(a, b) + 0.05)
    }

    /// The `--name:#rrggbb` custom properties of the first `:root { … }` block in `css`.
    static func customProperties(_ css: Substring) throws -> [String: String] {
        let open = try #require(css.range(of: ":root {"))
        let close = try #require(css[open.upperBound...].firstIndex(of: "}"))
        var properties: [String: String] = [:]
        for declaration in css[open.upperBound..<close].split(separator: ";") {
            let parts = declaration.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, parts[0].hasPrefix("--") else { continue }
            properties[String(parts[0].dropFirst(2))] = parts[1]
        }
        return properties
    }

    /// The custom properties each `property:var(--name)` declaration in `css` reads.
    static func variables(readBy property: String, in css: String) throws -> Set<String> {
        let regex = try NSRegularExpression(pattern: #"(?<![\w-])"# + property + #":\s*var\(--([\w-]+)\)"#)
        return Set(regex.matches(in: css, range: NSRange(css.startIndex..., in: css)).compactMap {
            Range($0.range(at: 1), in: css).map { String(css[$0]) }
        })
    }
}

@Suite("WCAG 2.x AA: every text colour of the pages has contrast 4.5:1 or more in both colour schemes")
struct PageContrastTests {
    /// Text colour on the background it is drawn on, as the stylesheet uses them: body text in
    /// the card and secondary buttons, text outside the card, muted text, the primary button,
    /// links and the "new" mark, the error box.
    static let pairs = [("fg", "card"), ("fg", "bg"), ("muted", "card"), ("muted", "bg"), ("on-accent", "accent"),
                        ("link", "card"), ("link", "bg"), ("bad", "bad-bg")]

    @Test("Each text/background pair of the light and the dark scheme has contrast >= 4.5")
    func everyPairMeetsAA() throws {
        let css = Templates.style
        let light = try WCAG.customProperties(css[...])
        let darkStart = try #require(css.range(of: "prefers-color-scheme: dark"))
        let dark = try WCAG.customProperties(css[darkStart.upperBound...])
        for (scheme, colours) in [("light", light), ("dark", dark)] {
            for (text, background) in Self.pairs {
                let foreground = try #require(colours[text], "\(scheme) --\(text)")
                let back = try #require(colours[background], "\(scheme) --\(background)")
                let ratio = WCAG.contrast(foreground, back)
                #expect(ratio >= 4.5, "\(scheme): --\(text) \(foreground) on --\(background) \(back) is \(ratio):1")
            }
        }
        // The old dark primary button (white on #6ea8fe) is what this guards against.
        #expect(WCAG.contrast("#ffffff", "#6ea8fe") < 4.5)
    }

    @Test("Every colour and background the stylesheet reads is one of the checked pairs")
    func noUncheckedColour() throws {
        let texts = Set(Self.pairs.map(\.0)), backgrounds = Set(Self.pairs.map(\.1))
        #expect(try WCAG.variables(readBy: "color", in: Templates.style).isSubset(of: texts))
        #expect(try WCAG.variables(readBy: "background", in: Templates.style).isSubset(of: backgrounds))
    }

    @Test("Long names, ids and URLs wrap anywhere inside the card (no sideways scrolling on a phone)")
    func longWordsWrap() {
        let main = Templates.style.split(separator: "\n").first { $0.contains("main {") } ?? ""
        #expect(main.contains("overflow-wrap: anywhere"))
    }
}
