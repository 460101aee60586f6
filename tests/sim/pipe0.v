// Degenerate "pipelined" design with latency 0: out_valid and y follow in_valid and x with no
// register, so the testbench must measure 0 rising edges. y = x0 - x1 (two signed 8-bit inputs).
module pipe0 (
    input  wire        clk,
    input  wire        rst,
    input  wire        in_valid,
    input  wire [15:0] x,
    output wire        out_valid,
    output wire [8:0]  y
);
    wire signed [7:0] x0 = x[7:0];
    wire signed [7:0] x1 = x[15:8];
    assign y = x0 - x1;
    assign out_valid = in_valid & ~rst;
endmodule
