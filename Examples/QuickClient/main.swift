// A Swift MCP client that signs in with PixyClient and calls one tool: the whole program.
// Usage: pixy-example-quick-client <MCP server URL> <tool>
import MCP
import PixyClientMCP

let transport = try HTTPClientTransport.signingIn(to: CommandLine.arguments[1], as: "Quick client")
let client = Client(name: "quick-client", version: "1.0.0")
_ = try await client.connect(transport: transport)
let (content, _) = try await client.callTool(name: CommandLine.arguments[2])
for case .text(let text, _, _) in content { print(text) }
