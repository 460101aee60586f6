// Combinational test design: six signed 12-bit inputs (72-bit x), four signed 24-bit outputs (96-bit y).
module comb_ops (
    input  wire [71:0] x,
    output wire [95:0] y
);
    wire signed [11:0] a0 = x[11:0];
    wire signed [11:0] a1 = x[23:12];
    wire signed [11:0] a2 = x[35:24];
    wire signed [11:0] a3 = x[47:36];
    wire signed [11:0] a4 = x[59:48];
    wire signed [11:0] a5 = x[71:60];

    wire signed [23:0] prod = a0 * a1;
    wire signed [23:0] diff = a2 - a3;
    wire signed [23:0] pair = a4 + a5;
    wire signed [23:0] relu = pair[23] ? 24'sd0 : pair;
    wire signed [23:0] total = a0 + a1 + a2 + a3 + a4 + a5;
    wire signed [23:0] half = total >>> 1;  // floor(total / 2)

    assign y = {half, relu, diff, prod};
endmodule
