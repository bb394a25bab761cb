import ApusCore
import Foundation

/// POSIX-style regular expressions (`~`, `~*`, `!~`, `!~*`, SIMILAR TO, regexp_replace) through
/// Foundation's ICU engine, whose syntax covers PostgreSQL's common cases (classes, anchors,
/// quantifiers, groups, alternation, `[[:alpha:]]`). Compiled patterns are cached per statement.
final class RegexCache {
    private var cache: [String: NSRegularExpression] = [:]

    func regex(_ pattern: String, caseInsensitive: Bool) throws(SQLError) -> NSRegularExpression {
        let key = (caseInsensitive ? "i:" : "s:") + pattern
        if let r = cache[key] { return r }
        do {
            let r = try NSRegularExpression(pattern: pattern, options: caseInsensitive ? [.caseInsensitive] : [])
            if cache.count > 256 { cache.removeAll() }
            cache[key] = r
            return r
        } catch {
            throw SQLError(SQLState("2201B"), "invalid regular expression: \(pattern)")
        }
    }

    /// SIMILAR TO: the pattern is translated once per (pattern, escape), then cached compiled.
    func similar(_ s: String, _ pattern: String, escape: String) throws(SQLError) -> Bool {
        let key = "similar:" + escape + ":" + pattern
        let r: NSRegularExpression
        if let cached = cache[key] { r = cached } else {
            r = try regex(try RegexCache.similarToRegex(pattern, escape: escape), caseInsensitive: false)
            cache[key] = r
        }
        return r.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil
    }

    func matches(_ s: String, _ pattern: String, caseInsensitive: Bool) throws(SQLError) -> Bool {
        let r = try regex(pattern, caseInsensitive: caseInsensitive)
        return r.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil
    }

    /// regexp_replace(source, pattern, replacement[, flags]): `g` replaces every match, `i`
    /// ignores case; `\1`..`\9` and `\&` in the replacement name groups and the whole match.
    func replace(_ s: String, _ pattern: String, _ replacement: String, flags: String) throws(SQLError) -> String {
        let r = try regex(pattern, caseInsensitive: flags.contains("i"))
        var template = ""
        var it = replacement.makeIterator()
        while let c = it.next() {
            if c == "\\", let n = it.next() {
                if n.isNumber {
                    template += "$" + String(n)
                } else if n == "&" {
                    template += "$0"
                } else {
                    template += NSRegularExpression.escapedTemplate(for: String(n))
                }
            } else {
                template += NSRegularExpression.escapedTemplate(for: String(c))
            }
        }
        let full = NSRange(s.startIndex..., in: s)
        if flags.contains("g") { return r.stringByReplacingMatches(in: s, range: full, withTemplate: template) }
        guard let m = r.firstMatch(in: s, range: full) else { return s }
        let ns = s as NSString
        return ns.replacingCharacters(in: m.range, with: r.replacementString(for: m, in: s, offset: 0, template: template))
    }

    /// SIMILAR TO's pattern as an anchored regular expression: `%` is `.*`, `_` is `.`,
    /// `| * + ? {m,n} ( ) [...]` keep their meaning, everything else is literal; `escape` makes
    /// the next character literal.
    static func similarToRegex(_ pattern: String, escape: String) throws(SQLError) -> String {
        guard escape.count <= 1 else { throw SQLError(SQLState("22025"), "invalid escape string") }
        let esc = escape.first
        var out = "^(?:"
        var inBracket = false
        var it = pattern.makeIterator()
        while let c = it.next() {
            if let esc, c == esc {
                guard let n = it.next() else { throw SQLError(SQLState("2201B"), "invalid regular expression: trailing escape") }
                // escape + `"` marks the part substring() returns; for matching it is only a boundary.
                if n != "\"" { out += NSRegularExpression.escapedPattern(for: String(n)) }
                continue
            }
            if inBracket {
                if c == "]" { inBracket = false }
                out.append(c == "\\" ? "\\\\" : String(c))
                continue
            }
            switch c {
            case "%": out += ".*"
            case "_": out += "."
            case "[":
                inBracket = true
                out += "["
            case "|", "*", "+", "?", "{", "}", "(", ")": out.append(c)
            default: out += NSRegularExpression.escapedPattern(for: String(c))
            }
        }
        return out + ")$"
    }
}
