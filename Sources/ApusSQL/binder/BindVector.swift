import ApusCore

/// pgvector's operators and functions, bound to `vec_*` functions evaluated by `Executor`.
extension Binder {
    static let vectorDistanceOperators: [String: String] = [
        "<->": "vec_l2_distance", "<=>": "vec_cosine_distance", "<#>": "vec_negative_inner_product", "<+>": "vec_l1_distance",
    ]

    static let vectorFunctions: [String: String] = [
        "l2_distance": "vec_l2_distance", "cosine_distance": "vec_cosine_distance", "inner_product": "vec_inner_product",
        "l1_distance": "vec_l1_distance", "vector_dims": "vec_dims", "vector_norm": "vec_norm", "l2_norm": "vec_norm",
        "l2_normalize": "vec_normalize",
    ]

    static func isVector(_ t: SQLType) -> Bool { if case .vector = t { return true }; return false }

    /// A vector operand: vectors as they are, untyped literals read as vectors.
    func vectorOperand(_ b: BExpr, _ t: SQLType) -> BExpr? {
        if Binder.isVector(t) { return b }
        if t == .unknown || t == .null { return coerce(b, t, to: .vector(nil)) }
        return nil
    }

    /// `a <-> b` and the other distance operators; `+`, `-`, `*` when an operand is a vector.
    /// Returns nil when the operator is not a vector operator for these operand types.
    func bindVectorOperator(_ op: String, _ la: BExpr, _ ta: SQLType, _ rb: BExpr, _ tb: SQLType, _ pos: Int) throws -> (
        BExpr, SQLType
    )? {
        if let fn = Binder.vectorDistanceOperators[op] {
            guard let x = vectorOperand(la, ta), let y = vectorOperand(rb, tb) else { throw mismatch(op, ta, tb, pos) }
            return (.function(fn, [x, y], .float8), .float8)
        }
        guard ["+", "-", "*"].contains(op), Binder.isVector(ta) || Binder.isVector(tb) else { return nil }
        guard let x = vectorOperand(la, ta), let y = vectorOperand(rb, tb) else { throw mismatch(op, ta, tb, pos) }
        return (.function("vec_arith", [.const(.text(op)), x, y], .vector(nil)), .vector(nil))
    }

    /// The pgvector function `name`, or nil when `name` is not one.
    func bindVectorFunction(_ name: String, _ args: [(BExpr, SQLType)], _ pos: Int) throws -> (BExpr, SQLType)? {
        guard let fn = Binder.vectorFunctions[name] else { return nil }
        let unary = ["vec_dims", "vec_norm", "vec_normalize"].contains(fn)
        let operands = args.compactMap { vectorOperand($0.0, $0.1) }
        guard args.count == (unary ? 1 : 2), operands.count == args.count else {
            throw SQLError(
                .undefinedFunction,
                "function \(name)(\(args.map(\.1.description).joined(separator: ", "))) does not exist", position: pos)
        }
        let type: SQLType = fn == "vec_dims" ? .int4 : fn == "vec_normalize" ? .vector(nil) : .float8
        return (.function(fn, operands, type), type)
    }
}

extension Executor {
    /// Evaluates a `vec_*` function on non-NULL arguments.
    func vectorFunction(_ name: String, _ a: [Value]) throws(SQLError) -> Value {
        func vec(_ i: Int) throws(SQLError) -> [Float] {
            switch a[i] {
            case let .vector(v): return v
            case let .text(s): return try VectorValue.parse(s)
            default: throw SQLError(.datatypeMismatch, "expected a vector, got \(a[i])")
            }
        }
        switch name {
        case "vec_l2_distance": return .float(try VectorValue.l2Distance(try vec(0), try vec(1)))
        case "vec_cosine_distance": return .float(try VectorValue.cosineDistance(try vec(0), try vec(1)))
        case "vec_inner_product": return .float(try VectorValue.innerProduct(try vec(0), try vec(1)))
        case "vec_negative_inner_product": return .float(-(try VectorValue.innerProduct(try vec(0), try vec(1))))
        case "vec_l1_distance": return .float(try VectorValue.l1Distance(try vec(0), try vec(1)))
        case "vec_dims": return .int(Int64(try vec(0).count))
        case "vec_norm": return .float(VectorValue.norm(try vec(0)))
        case "vec_normalize": return .vector(VectorValue.normalize(try vec(0)))
        case "vec_arith": return .vector(try VectorValue.arith(a[0].text(as: nil) ?? "+", try vec(1), try vec(2)))
        default: throw SQLError(.undefinedFunction, "function \(name) does not exist")
        }
    }
}

/// A vector element as float4; 22003 when it does not fit.
func finiteFloat(_ d: Double) throws(SQLError) -> Float {
    let f = Float(d)
    if f.isInfinite { throw SQLError(.numericValueOutOfRange, "value out of range: overflow") }
    return f
}
