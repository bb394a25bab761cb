import ApusCore

/// PostgreSQL's template patterns for dates and times: `to_char(timestamp, fmt)` and
/// `to_date` / `to_timestamp(text, fmt)`. Supported: YYYY YYY YY Y IYYY IY MM DD DDD D ID Q
/// WW HH HH12 HH24 MI SS MS US AM PM A.M. P.M. (any case) Month MONTH month Mon MON mon Day DAY
/// day Dy DY dy TZ TZH TZM (UTC), the FM prefix, "quoted text" and other characters as they are.
enum DateFormat {
    static let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                         "November", "December"]
    static let days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]

    /// The template's tokens, longest pattern first at each position.
    static let patterns = [
        "YYYY", "IYYY", "HH24", "HH12", "MONTH", "Month", "month", "A.M.", "P.M.", "a.m.", "p.m.", "YYY", "DDD", "MON", "Mon", "mon",
        "DAY", "Day", "day", "TZH", "TZM", "YY", "IY", "MM", "DD", "ID", "WW", "HH", "MI", "SS", "MS", "US", "AM", "PM", "am", "pm",
        "DY", "Dy", "dy", "TZ", "tz", "Y", "D", "Q",
    ]

    enum Token: Equatable {
        case pattern(String, fill: Bool)
        case literal(String)
    }

    static func tokenize(_ fmt: String) -> [Token] {
        var out: [Token] = []
        let chars = Array(fmt)
        var i = 0
        var fill = false
        while i < chars.count {
            if chars[i] == "\"" {
                var lit = ""
                i += 1
                while i < chars.count && chars[i] != "\"" {
                    if chars[i] == "\\" && i + 1 < chars.count { i += 1 }
                    lit.append(chars[i])
                    i += 1
                }
                i += 1
                out.append(.literal(lit))
                continue
            }
            let rest = String(chars[i..<min(chars.count, i + 5)])
            if rest.uppercased().hasPrefix("FM") { fill = true; i += 2; continue }
            // Patterns match without regard to case, except the ones whose case sets the output's.
            let cased = ["MONTH", "Month", "month", "MON", "Mon", "mon", "DAY", "Day", "day", "DY", "Dy", "dy", "AM", "PM", "am", "pm",
                         "A.M.", "P.M.", "a.m.", "p.m."]
            var matched: String?
            for p in patterns where rest.hasPrefix(p) || (!cased.contains(p) && rest.uppercased().hasPrefix(p)) {
                matched = p
                break
            }
            if let p = matched {
                out.append(.pattern(p, fill: fill))
                fill = false
                i += p.count
            } else {
                out.append(.literal(String(chars[i])))
                i += 1
            }
        }
        return out
    }

    static func pad(_ v: Int64, _ n: Int, _ fill: Bool) -> String {
        let s = String(abs(v))
        let body = fill || s.count >= n ? s : String(repeating: "0", count: n - s.count) + s
        return v < 0 ? "-" + body : body
    }

    static func cased(_ name: String, _ pattern: String, _ fill: Bool, width: Int) -> String {
        var s = name
        if pattern == pattern.uppercased() && pattern != pattern.lowercased() {
            s = name.uppercased()
        } else if pattern == pattern.lowercased() {
            s = name.lowercased()
        }
        return fill ? s : s + String(repeating: " ", count: max(0, width - s.count))
    }

    /// ISO 8601 year and week of `days` (days since 2000-01-01).
    static func isoYearWeek(_ days: Int64) -> (Int64, Int64) {
        let dow = ((days + 6) % 7 + 7) % 7 // Monday = 0 (2000-01-01 was a Saturday)
        let thursday = days - dow + 3
        let (y, _, _) = DateTime.civilFromDays(thursday)
        let jan1 = DateTime.daysFromCivil(y, 1, 1)
        return (y, (thursday - jan1) / 7 + 1)
    }

    /// to_char of a timestamp (microseconds since 2000-01-01).
    static func format(_ us: Int64, _ fmt: String) -> String {
        let days = DateTime.floorDiv(us, DateTime.usPerDay)
        let rest = us - days * DateTime.usPerDay
        let (y, m, d) = DateTime.civilFromDays(days)
        let hour = rest / 3_600_000_000, minute = rest / 60_000_000 % 60, second = rest / 1_000_000 % 60, micros = rest % 1_000_000
        let dow = ((days + 6) % 7 + 7) % 7 // Sunday = 0
        let doy = days - DateTime.daysFromCivil(y, 1, 1) + 1
        var out = ""
        for t in tokenize(fmt) {
            guard case let .pattern(p, fill) = t else {
                if case let .literal(l) = t { out += l }
                continue
            }
            switch p.uppercased() {
            case "YYYY": out += pad(y, 4, fill)
            case "YYY": out += pad(y % 1000, 3, fill)
            case "YY": out += pad(y % 100, 2, fill)
            case "Y": out += String(y % 10)
            case "IYYY": out += pad(isoYearWeek(days).0, 4, fill)
            case "IY": out += pad(isoYearWeek(days).0 % 100, 2, fill)
            case "MM": out += pad(m, 2, fill)
            case "DD": out += pad(d, 2, fill)
            case "DDD": out += pad(doy, 3, fill)
            case "D": out += String(dow + 1)
            case "ID": out += String(dow == 0 ? 7 : dow)
            case "Q": out += String((m - 1) / 3 + 1)
            case "WW": out += pad((doy - 1) / 7 + 1, 2, fill)
            case "HH", "HH12": out += pad(hour % 12 == 0 ? 12 : hour % 12, 2, fill)
            case "HH24": out += pad(hour, 2, fill)
            case "MI": out += pad(minute, 2, fill)
            case "SS": out += pad(second, 2, fill)
            case "MS": out += pad(micros / 1000, 3, false)
            case "US": out += pad(micros, 6, false)
            case "AM", "PM":
                let s = hour < 12 ? "AM" : "PM"
                out += p == p.lowercased() ? s.lowercased() : s
            case "A.M.", "P.M.":
                let s = hour < 12 ? "A.M." : "P.M."
                out += p == p.lowercased() ? s.lowercased() : s
            case "MONTH": out += cased(months[Int(m - 1)], p, fill, width: 9)
            case "MON": out += cased(String(months[Int(m - 1)].prefix(3)), p, true, width: 3)
            case "DAY": out += cased(DateFormat.days[Int(dow)], p, fill, width: 9)
            case "DY": out += cased(String(DateFormat.days[Int(dow)].prefix(3)), p, true, width: 3)
            case "TZ": out += p == "tz" ? "utc" : "UTC"
            case "TZH": out += "+00"
            case "TZM": out += "00"
            default: out += p
            }
        }
        return out
    }

    static func invalid(_ what: String) -> SQLError { SQLError(.invalidDatetimeFormat, what) }

    /// to_timestamp / to_date: reads `text` by the template; fields not given default to
    /// 0001-01-01 00:00:00 (year 1, as PostgreSQL starts from).
    static func parse(_ text: String, _ fmt: String) throws(SQLError) -> Int64 {
        let chars = Array(text)
        var i = 0
        var year: Int64 = 1, month: Int64 = 1, day: Int64 = 1, hour: Int64 = 0, minute: Int64 = 0, second: Int64 = 0, micros: Int64 = 0
        var pm: Bool?
        var hour12 = false
        func skipSpaces() { while i < chars.count && chars[i] == " " { i += 1 } }
        func number(_ maxDigits: Int) throws(SQLError) -> Int64 {
            skipSpaces()
            var s = ""
            if i < chars.count && (chars[i] == "-" || chars[i] == "+") { s.append(chars[i]); i += 1 }
            while i < chars.count && chars[i].isNumber && s.filter(\.isNumber).count < maxDigits { s.append(chars[i]); i += 1 }
            guard let v = Int64(s) else { throw invalid("invalid value \"\(String(chars[min(i, chars.count)...].prefix(maxDigits)))\" for template") }
            return v
        }
        func name(_ list: [String], abbreviated: Bool) throws(SQLError) -> Int64 {
            skipSpaces()
            let rest = String(chars[i...]).lowercased()
            for (k, n) in list.enumerated() {
                let candidate = (abbreviated ? String(n.prefix(3)) : n).lowercased()
                if rest.hasPrefix(candidate) { i += candidate.count; return Int64(k) }
            }
            throw invalid("invalid value \"\(String(chars[i...].prefix(9)))\" for template")
        }
        for t in tokenize(fmt) {
            switch t {
            case let .literal(l):
                // Separators match any one non-alphanumeric character, as PostgreSQL is lenient.
                for c in l {
                    if i < chars.count && (chars[i] == c || (!chars[i].isLetter && !chars[i].isNumber && !c.isLetter && !c.isNumber)) {
                        i += 1
                    } else if c == " " {
                        continue
                    }
                }
            case let .pattern(p, _):
                switch p.uppercased() {
                case "YYYY", "IYYY": year = try number(4)
                case "YYY": year = 1000 + (try number(3))
                case "YY", "IY": year = 2000 + (try number(2))
                case "Y": year = 2000 + (try number(1))
                case "MM": month = try number(2)
                case "DD": day = try number(2)
                case "DDD", "D", "ID", "Q", "WW": _ = try number(3)
                case "HH", "HH12": hour = try number(2); hour12 = true
                case "HH24": hour = try number(2)
                case "MI": minute = try number(2)
                case "SS": second = try number(2)
                case "MS": micros = (try number(3)) * 1000
                case "US": micros = try number(6)
                case "AM", "PM", "A.M.", "P.M.":
                    skipSpaces()
                    let rest = String(chars[i...]).uppercased()
                    if rest.hasPrefix("AM") || rest.hasPrefix("PM") {
                        pm = rest.hasPrefix("PM")
                        i += 2
                    } else if rest.hasPrefix("A.M.") || rest.hasPrefix("P.M.") {
                        pm = rest.hasPrefix("P.M.")
                        i += 4
                    }
                case "MONTH": month = try name(months, abbreviated: false) + 1
                case "MON": month = try name(months, abbreviated: true) + 1
                case "DAY": _ = try name(days, abbreviated: false)
                case "DY": _ = try name(days, abbreviated: true)
                default: break
                }
            }
        }
        if hour12 || pm != nil {
            guard (1...12).contains(hour) else { throw invalid("hour \"\(hour)\" is invalid for the 12-hour clock") }
            if pm == true && hour < 12 { hour += 12 }
            if pm != true && hour == 12 { hour = 0 }
        }
        guard (1...12).contains(month) else { throw SQLError(.datetimeOverflow, "date/time field value out of range: \"\(text)\"") }
        guard (0...23).contains(hour), (0...59).contains(minute), (0...60).contains(second) else {
            throw SQLError(.datetimeOverflow, "date/time field value out of range: \"\(text)\"")
        }
        // Year -1 is 1 BC (there is no year 0 in the input; 0 reads as 1 BC as well).
        if year < 0 { year += 1 }
        let days = DateTime.daysFromCivil(year, month, day)
        let (y2, m2, d2) = DateTime.civilFromDays(days)
        guard y2 == year, m2 == month, d2 == day else { throw SQLError(.datetimeOverflow, "date/time field value out of range: \"\(text)\"") }
        return days * DateTime.usPerDay + hour * 3_600_000_000 + minute * 60_000_000 + second * 1_000_000 + micros
    }
}

/// `to_char(number, fmt)` for the common numeric templates: 9 (digit, space when absent),
/// 0 (digit, zero when absent), `.` or D (decimal point), `,` or G (group separator), FM (no
/// padding, no trailing zeros), S (sign), MI (trailing minus). A value with more integer digits
/// than the template has gives `#` in every digit position, as PostgreSQL does.
enum NumberFormat {
    static func format(_ n: SQLDecimal, _ fmt: String) -> String {
        var f = fmt.uppercased()
        let fill = f.hasPrefix("FM")
        if fill { f.removeFirst(2) }
        let explicitSign = f.hasPrefix("S")
        if explicitSign { f.removeFirst() }
        let trailingMinus = f.hasSuffix("MI")
        if trailingMinus { f.removeLast(2) }
        let parts = f.replacingOccurrences(of: "D", with: ".").replacingOccurrences(of: "G", with: ",")
            .split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let intPattern = Array(parts[0])
        let fracPattern = parts.count > 1 ? Array(parts[1]).filter { $0 == "9" || $0 == "0" } : []
        let negative = n.unscaled < 0
        let rounded = (try? n.rescaled(fracPattern.count)) ?? n
        var digits = String((rounded.unscaled < 0 ? -rounded.unscaled : rounded.unscaled).description)
        if digits.count <= fracPattern.count { digits = String(repeating: "0", count: fracPattern.count - digits.count + 1) + digits }
        let intDigits = Array(digits.dropLast(fracPattern.count)).drop { $0 == "0" }
        let fracDigits = Array(digits.suffix(fracPattern.count))
        let slots = intPattern.filter { $0 == "9" || $0 == "0" }.count
        if intDigits.count > slots {
            let hashes = intPattern.map { $0 == "9" || $0 == "0" ? "#" : String($0) }.joined()
            return " " + hashes + (fracPattern.isEmpty ? "" : "." + String(repeating: "#", count: fracPattern.count))
        }
        // Integer part, right to left over the template.
        let firstZero = intPattern.firstIndex(of: "0").map { intPattern.count - $0 } ?? 0
        var out: [Character] = []
        var di = intDigits.count - 1
        var slotFromRight = 0
        for c in intPattern.reversed() {
            if c == "9" || c == "0" {
                slotFromRight += 1
                if di >= 0 {
                    out.append(intDigits[intDigits.startIndex + di])
                    di -= 1
                } else if slotFromRight <= firstZero || (slotFromRight == 1 && fracPattern.isEmpty) {
                    out.append("0")
                } else if !fill {
                    out.append(" ")
                }
            } else if c == "," {
                if di >= 0 || slotFromRight < firstZero { out.append(",") } else if !fill { out.append(" ") }
            } else {
                out.append(c)
            }
        }
        let intText = String(out.reversed())
        var frac = String(fracDigits)
        if fill {
            var kept = Array(frac)
            var k = kept.count - 1
            while k >= 0 && fracPattern[k] == "9" && kept[k] == "0" { kept.removeLast(); k -= 1 }
            frac = String(kept)
        }
        let sign = negative ? "-" : (explicitSign ? "+" : (trailingMinus || fill ? "" : " "))
        // The sign goes right before the first digit, after the padding.
        let trimmed = intText.drop { $0 == " " }
        let lead = String(intText.prefix(intText.count - trimmed.count))
        var body = (trailingMinus ? "" : sign) + trimmed
        if !fracPattern.isEmpty || parts.count > 1 { body += "." + frac }
        if trailingMinus { body += negative ? "-" : (fill ? "" : " ") }
        return (fill ? "" : lead) + body
    }
}
