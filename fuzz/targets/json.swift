import FuzzChecks

/// libFuzzer's entry point for the `json` target (see `FuzzTarget`); `make fuzz` links one
/// binary per target with libFuzzer's own `main`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzTarget.json.check(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
