// Ready/valid test design: y = x0 * x1 + x2 (signed 8-bit elements), latency 3, one at a time.
// in_ready depends combinationally on out_ready (a result being taken frees the design).
module hs_fixed(input clk, input rst, input [23:0] x, input in_valid, output in_ready,
                output reg [16:0] y, output reg out_valid, input out_ready);
  reg busy;
  reg count;
  reg signed [16:0] acc;
  wire signed [7:0] a = x[7:0], b = x[15:8], c = x[23:16];
  assign in_ready = !busy && (!out_valid || out_ready);
  always @(posedge clk) begin
    if (rst) begin
      busy <= 0; out_valid <= 0; count <= 0;
    end else begin
      if (out_valid && out_ready) out_valid <= 0;
      if (in_valid && in_ready) begin
        busy <= 1; count <= 0; acc <= a * b + c;
      end else if (busy) begin
        count <= 1;
        if (count) begin busy <= 0; out_valid <= 1; y <= acc; end
      end
    end
  end
endmodule
