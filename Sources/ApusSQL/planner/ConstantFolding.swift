import ApusCore

/// Constant folding: a part of an expression made only of constants and immutable operators
/// and functions is computed once when the statement is bound, so that it is not computed
/// again per row, and so that `k = abs(-3)` is an equality with a constant that can use an
/// index. Parameters, stable functions (the time, settings) and volatile ones stay as they
/// are (a cached plan runs again with other parameters, at another time). A part whose
/// computation fails (`1/0`) is left unfolded, so the error comes when, and only if, a row
/// needs it, as before.
enum ConstantFolding {
    /// Functions whose result depends only on their arguments.
    static let immutableFunctions: Set<String> = [
        "abs", "ceil", "ceiling", "floor", "round", "trunc", "sqrt", "cbrt", "power", "pow", "exp", "ln", "log", "log10",
        "mod", "sign", "pi", "degrees", "radians", "sin", "cos", "tan", "asin", "acos", "atan", "atan2",
        "lower", "upper", "length", "char_length", "character_length", "octet_length", "bit_length", "substr",
        "substring", "trim", "btrim", "ltrim", "rtrim", "lpad", "rpad", "replace", "repeat", "reverse", "left", "right",
        "strpos", "initcap", "concat", "concat_ws", "md5", "split_part", "ascii", "chr", "translate", "starts_with",
    ]

    /// `e` with its constant parts computed.
    static func fold(_ e: BExpr) -> BExpr {
        let folded: BExpr
        switch e {
        case .const, .column, .outer, .param, .windowColumn, .scalarSubquery, .exists, .inSubquery, .quantified, .dateArith,
             .like, .caseWhen, .inList, .isDistinct, .isBool:
            return e
        case let .cast(x, t): folded = .cast(fold(x), t)
        case let .negate(x, t): folded = .negate(fold(x), t)
        case let .arith(op, a, b, t): folded = .arith(op, fold(a), fold(b), t)
        case let .compare(op, a, b): folded = .compare(op, fold(a), fold(b))
        case let .and(a, b): folded = .and(fold(a), fold(b))
        case let .or(a, b): folded = .or(fold(a), fold(b))
        case let .not(x): folded = .not(fold(x))
        case let .isNull(x, n): folded = .isNull(fold(x), negated: n)
        case let .concat(a, b): folded = .concat(fold(a), fold(b))
        case let .coalesce(xs): folded = .coalesce(xs.map(fold))
        case let .nullIf(a, b): folded = .nullIf(fold(a), fold(b))
        case let .extreme(xs, g): folded = .extreme(xs.map(fold), greatest: g)
        case let .function(name, args, t):
            guard immutableFunctions.contains(name) else { return .function(name, args.map(fold), t) }
            folded = .function(name, args.map(fold), t)
        }
        var values: [Value] = []
        for c in folded.operands {
            guard case let .const(v) = c else { return folded }
            values.append(v)
        }
        // Text made from floats and dates depends on session settings (extra_float_digits,
        // DateStyle, TimeZone), and so do casts to date and time types: left to run time.
        let sessionDependent = values.contains {
            switch $0 {
            case .float, .date, .time, .timestamp, .timestamptz, .interval: return true
            default: return false
            }
        }
        switch folded {
        case .concat, .function: if sessionDependent { return folded }
        case let .cast(_, t):
            switch t {
            case .bool, .int2, .int4, .int8, .numeric: break
            case .float4, .float8, .text, .varchar: if sessionDependent { return folded }
            default: return folded
            }
        default: break
        }
        guard let v = try? Executor(tx: NoStorage(), params: []).eval(folded, []) else { return folded }
        return .const(v)
    }
}

/// The transaction constant folding evaluates with: the expressions it computes read no
/// data, so every access is an error (which leaves the expression unfolded).
private final class NoStorage: KVTransaction {
    static func refused() -> SQLError { SQLError(.internalError, "constant folding reads no data") }
    func get(_ key: [UInt8]) throws(SQLError) -> [UInt8]? { throw NoStorage.refused() }
    func scan(lower: [UInt8], upper: [UInt8]) throws(SQLError) -> [(key: [UInt8], value: [UInt8])] { throw NoStorage.refused() }
    func put(_ key: [UInt8], _ value: [UInt8]) throws(SQLError) { throw NoStorage.refused() }
    func delete(_ key: [UInt8]) throws(SQLError) { throw NoStorage.refused() }
    func commit() throws(SQLError) {}
    func rollback() {}
    var vectorState: VectorTxState? { nil }
    func mark() -> TransactionMark { TransactionMark(position: 0, epoch: 0, vectorChanges: nil) }
    func rollback(to mark: TransactionMark) {}
    func forgetMarks() {}
}
