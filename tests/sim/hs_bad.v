// A faulty ready/valid design for the testbench's own checks: the latency is 3 or 4 (by the
// parity of x0), and y counts up while a result waits for out_ready.
module hs_bad(input clk, input rst, input [23:0] x, input in_valid, output in_ready,
              output reg [16:0] y, output reg out_valid, input out_ready);
  reg busy;
  reg [1:0] count, stop;
  reg signed [16:0] acc;
  wire signed [7:0] a = x[7:0], b = x[15:8], c = x[23:16];
  assign in_ready = !busy && (!out_valid || out_ready);
  always @(posedge clk) begin
    if (rst) begin
      busy <= 0; out_valid <= 0; count <= 0;
    end else begin
      if (out_valid && out_ready) out_valid <= 0;
      if (out_valid && !out_ready) y <= y + 1;
      if (in_valid && in_ready) begin
        busy <= 1; count <= 0; stop <= x[0] ? 2'd2 : 2'd1; acc <= a * b + c;
      end else if (busy) begin
        count <= count + 1;
        if (count == stop) begin busy <= 0; out_valid <= 1; y <= acc; end
      end
    end
  end
endmodule
