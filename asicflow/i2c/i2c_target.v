// asicflow_i2c_target: a synthesizable I2C target (standard-mode 100 kHz and fast-mode
// 400 kHz) with a 16-bit register pointer, for asicflow's weight-loading wrapper.
//
// Protocol (as a 24Cxx-style EEPROM):
//   write: S | ADDRESS+W | ptr[15:8] | ptr[7:0] | data0 | data1 | ... | P
//   read:  S | ADDRESS+W | ptr[15:8] | ptr[7:0] | Sr | ADDRESS+R | data0 (A) ... dataN (N) | P
// The pointer increments after every data byte written or read. A read without a pointer
// write continues from the current pointer. Any other address is not acknowledged.
//
// Timing: SCL and SDA are sampled in the clk domain through two-flop synchronizers, so clk
// must be at least ~10x the SCL rate (100 MHz against 400 kHz is 250x). SDA is driven only
// after a detected SCL falling edge, which meets the I2C data hold time. The target never
// stretches the clock. Output sda_oe = 1 pulls SDA low (open drain: the pad drives 0 when
// sda_oe is 1 and is high impedance otherwise).
//
// The register file is outside: wr_en pulses one clk cycle with wr_data for byte ptr;
// rd_data must present the byte at ptr combinationally.
`default_nettype none

module asicflow_i2c_target #(
    parameter [6:0] ADDRESS = 7'h50
) (
    input  wire        clk,
    input  wire        rst,      // synchronous, active high
    input  wire        scl_i,
    input  wire        sda_i,
    output reg         sda_oe,
    output reg  [15:0] ptr,
    output reg         wr_en,
    output reg  [7:0]  wr_data,
    input  wire [7:0]  rd_data
);
    localparam [2:0] IDLE = 3'd0, DEV = 3'd1, PTR_HI = 3'd2, PTR_LO = 3'd3, WRITE = 3'd4,
                     READ = 3'd5;

    reg [2:0] scl_s, sda_s;      // synchronizers: [0] first flop, [1] synced, [2] previous
    reg [2:0] state;
    reg [3:0] bitcnt;            // SCL rising edges seen in the current 9-clock frame
    reg [7:0] shreg;             // received byte
    reg [7:0] txbyte;            // byte being sent
    reg       matched;           // DEV: the received address is ours
    reg       rw;                // DEV: read (1) or write (0)
    reg       master_ack;        // READ: the master acknowledged the last byte

    wire scl      = scl_s[1];
    wire sda      = sda_s[1];
    wire scl_rise = scl & ~scl_s[2];
    wire scl_fall = ~scl & scl_s[2];
    wire start    = scl & scl_s[2] & ~sda & sda_s[2];
    wire stop     = scl & scl_s[2] & sda & ~sda_s[2];

    always @(posedge clk) begin
        scl_s <= {scl_s[1:0], scl_i};
        sda_s <= {sda_s[1:0], sda_i};
    end

    always @(posedge clk) begin
        wr_en <= 1'b0;
        if (rst) begin
            state <= IDLE;
            bitcnt <= 4'd0;
            sda_oe <= 1'b0;
            ptr <= 16'd0;
            shreg <= 8'd0;
            txbyte <= 8'd0;
            matched <= 1'b0;
            rw <= 1'b0;
            master_ack <= 1'b0;
            wr_data <= 8'd0;
        end else if (start) begin
            state <= DEV;
            bitcnt <= 4'd0;
            sda_oe <= 1'b0;
        end else if (stop) begin
            state <= IDLE;
            sda_oe <= 1'b0;
        end else if (state != IDLE) begin
            if (scl_rise) begin
                bitcnt <= bitcnt + 4'd1;
                if (bitcnt < 4'd8) shreg <= {shreg[6:0], sda};
                if (state == READ && bitcnt == 4'd8) master_ack <= ~sda;
            end
            if (scl_fall && state == READ) begin
                if (bitcnt < 4'd8 && bitcnt != 4'd0) begin
                    sda_oe <= ~txbyte[3'd7 - bitcnt[2:0]];
                end else if (bitcnt == 4'd8) begin
                    sda_oe <= 1'b0;                      // release for the master's ACK
                end else if (bitcnt == 4'd9) begin
                    bitcnt <= 4'd0;
                    if (master_ack) begin                // next byte, MSB first
                        txbyte <= rd_data;
                        ptr <= ptr + 16'd1;
                        sda_oe <= ~rd_data[7];
                    end else begin
                        state <= IDLE;                   // NACK: wait for Sr or P
                    end
                end
            end else if (scl_fall && bitcnt == 4'd8) begin  // receive: ACK or not
                if (state == DEV) begin
                    matched <= shreg[7:1] == ADDRESS;
                    rw <= shreg[0];
                    sda_oe <= shreg[7:1] == ADDRESS;
                end else begin
                    sda_oe <= 1'b1;
                    if (state == PTR_HI) ptr[15:8] <= shreg;
                    if (state == PTR_LO) ptr[7:0] <= shreg;
                    if (state == WRITE) begin
                        wr_en <= 1'b1;
                        wr_data <= shreg;
                    end
                end
            end else if (scl_fall && bitcnt == 4'd9) begin  // end of the ACK clock
                bitcnt <= 4'd0;
                sda_oe <= 1'b0;
                case (state)
                    DEV:
                        if (!matched) state <= IDLE;
                        else if (rw) begin
                            state <= READ;
                            txbyte <= rd_data;
                            ptr <= ptr + 16'd1;
                            sda_oe <= ~rd_data[7];
                        end else state <= PTR_HI;
                    PTR_HI: state <= PTR_LO;
                    PTR_LO: state <= WRITE;
                    WRITE: ptr <= ptr + 16'd1;
                    default: state <= IDLE;
                endcase
            end
        end
    end
endmodule

`default_nettype wire
