// Helpers shared by the fuzz targets (docs/fuzzing.md).
import Dispatch
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Stops the process when an invariant does not hold, so libFuzzer records the input as a crash.
/// `abort()` rather than `fatalError` so the message is printed the same way in every build mode.
public func require(
    _ condition: Bool, _ message: @autoclosure () -> String,
    file: StaticString = #fileID, line: UInt = #line
) {
    guard !condition else { return }
    let text = "invariant violated at \(file):\(line): \(message())\n"
    var bytes = Array(text.utf8)
    _ = write(2, &bytes, bytes.count)
    abort()
}

/// The fuzzer's input as a byte array.
public func bytes(_ start: UnsafeRawPointer, _ count: Int) -> [UInt8] {
    Array(UnsafeRawBufferPointer(start: start, count: count))
}

/// Splits `input` at the first `separator`: the part before it and the part after it (or the
/// whole input and `nil` if there is none).
public func splitOnce(_ input: [UInt8], at separator: UInt8) -> ([UInt8], [UInt8]?) {
    guard let index = input.firstIndex(of: separator) else { return (input, nil) }
    return (Array(input[..<index]), Array(input[(index + 1)...]))
}

/// Whether every byte is printable ASCII other than space (0x21...0x7E).
public func isPrintableASCII(_ text: String) -> Bool {
    text.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
}

private final class ResultBox<T>: @unchecked Sendable {
    var value: T?
}

/// Runs `body` to completion and waits for it. `Task.immediate` (SE-0472) starts it on this
/// thread, and the async APIs fuzzed here (an in-memory client store) never really suspend, so
/// it normally finishes before `Task.immediate` returns: no thread hop per input, which matters
/// on a loaded machine. If it does suspend, this waits for it on a semaphore.
public func runBlocking<T>(_ body: @escaping @Sendable () async -> T) -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task.immediate {
        box.value = await body()
        done.signal()
    }
    done.wait()
    return box.value!
}
