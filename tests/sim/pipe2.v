// Pipelined test design, latency 2: three signed 8-bit inputs, two signed 16-bit outputs.
// y0 = x0 * x1 + x2, y1 = relu(x0 - x2). Synchronous active-high reset clears the valid bits.
module pipe2 (
    input  wire        clk,
    input  wire        rst,
    input  wire        in_valid,
    input  wire [23:0] x,
    output reg         out_valid,
    output reg  [31:0] y
);
    wire signed [7:0] x0 = x[7:0];
    wire signed [7:0] x1 = x[15:8];
    wire signed [7:0] x2 = x[23:16];

    reg signed [15:0] prod, diff;
    reg signed [7:0]  x2_d;
    reg               valid_d;

    wire signed [15:0] y0 = prod + x2_d;
    wire signed [15:0] y1 = diff[15] ? 16'sd0 : diff;

    always @(posedge clk) begin
        if (rst) begin
            valid_d   <= 1'b0;
            out_valid <= 1'b0;
        end else begin
            valid_d   <= in_valid;
            out_valid <= valid_d;
        end
        prod <= x0 * x1;
        diff <= x0 - x2;
        x2_d <= x2;
        y    <= {y1, y0};
    end
endmodule
