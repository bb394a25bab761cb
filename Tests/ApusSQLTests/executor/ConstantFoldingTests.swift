import ApusCore
@testable import ApusSQL
import Testing

/// What constant folding computes at bind time and what it leaves to run time.
@Suite struct ConstantFoldingTests {
    let two: BExpr = .const(.int(2))
    let three: BExpr = .const(.int(3))

    @Test func immutableConstantPartsAreComputed() {
        let sum = ConstantFolding.fold(.compare("=", .column(0), .arith("+", two, .function("abs", [.const(.int(-3))], .int4), .int4)))
        guard case .compare("=", .column(0), .const(.int(5))) = sum else { Issue.record("\(sum)"); return }
        let text = ConstantFolding.fold(.function("lower", [.concat(.const(.text("A")), .const(.text("B")))], .text))
        guard case .const(.text("ab")) = text else { Issue.record("\(text)"); return }
        let cast = ConstantFolding.fold(.cast(.const(.text("42")), .int4))
        guard case .const(.int(42)) = cast else { Issue.record("\(cast)"); return }
    }

    @Test func runTimeValuesAreLeftAlone() {
        // A parameter, a volatile or stable call, a failing computation, a session-dependent cast.
        let param = ConstantFolding.fold(.arith("+", .param(0, .int4), two, .int4))
        guard case .arith = param else { Issue.record("\(param)"); return }
        let random = ConstantFolding.fold(.function("random", [], .float8))
        guard case .function = random else { Issue.record("\(random)"); return }
        let now = ConstantFolding.fold(.function("now", [], .timestamptz))
        guard case .function = now else { Issue.record("\(now)"); return }
        let div = ConstantFolding.fold(.arith("/", three, .const(.int(0)), .int4))
        guard case .arith = div else { Issue.record("\(div)"); return }
        let zone = ConstantFolding.fold(.cast(.const(.text("2024-01-01 10:00")), .timestamptz))
        guard case .cast = zone else { Issue.record("\(zone)"); return }
        let floatText = ConstantFolding.fold(.concat(.const(.float(0.1)), .const(.text("x"))))
        guard case .concat = floatText else { Issue.record("\(floatText)"); return }
        // Folding stops at what is not constant, and still folds beside it.
        let mixed = ConstantFolding.fold(.and(.compare(">", .column(1), .arith("*", two, three, .int4)), .isNull(.const(.null), negated: false)))
        guard case .and(.compare(">", .column(1), .const(.int(6))), .const(.bool(true))) = mixed else { Issue.record("\(mixed)"); return }
    }
}
