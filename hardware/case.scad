// OpenDSC token case: a back tray (Pico, battery holder) and a front lid (keypad,
// OLED window, power button). Parametric: measure your parts and change the numbers.
//   openscad -o front.stl -D 'part="front"' hardware/case.scad
//   openscad -o back.stl  -D 'part="back"'  hardware/case.scad
// Print both flat side down (no supports); close with four M2 x 6 self-tapping screws.

part = "both";           // "front", "back" or "both" (side by side, for a look)

// -- parts, in mm (check yours: modules differ) --
keypad = [69, 77];       // membrane keypad face; it is stuck on the lid's outer face
keypad_recess = 0.8;     // its thickness: the recess keeps its edge flush
ribbon = [24, 2.5];      // slot for the keypad's ribbon tail, at its bottom edge
oled_pcb = [38, 12];     // 0.91" 128x32 module board (a 0.96" 128x64 one is about 27 x 27)
oled_window = [25, 8];   // the visible part of the glass
oled_depth = 5;          // module thickness below the lid
button_hole = 4;         // a 6x6 mm tactile switch's round plunger passes through
pico = [51, 21];         // Raspberry Pi Pico / Pico 2 board
pico_holes = [47, 11.4]; // its M2 mounting holes (2.1 mm), centre to centre
standoff = 3;            // Pico standoff height
battery = [60, 27, 16];  // 2xAAA holder with switch, cover facing the back
usb_cut = [12, 8];       // micro-USB plug opening in the top wall

// -- case --
wall = 2;
floor_t = 2;
lid_t = 2;
gap = 4;                 // margin around the keypad and between zones
oled_zone = oled_pcb[1] + 8;
button_zone = 14;
inner = [max(keypad[0], oled_pcb[0], battery[1] + pico[1] + 3 * gap) + 2 * gap,
         gap + oled_zone + gap + keypad[1] + gap + button_zone];
depth = max(battery[2] + 1, standoff + 8 + oled_depth + 1);  // inside, floor to lid
outer = [inner[0] + 2 * wall, inner[1] + 2 * wall];
corner = 4;              // screw bosses in the corners
screw_pilot = 1.8;
screw_clear = 2.4;
$fn = 40;

echo(str("case outside: ", outer[0], " x ", outer[1], " x ", floor_t + depth + lid_t + keypad_recess, " mm"));

// y runs from the bottom (button end) to the top (OLED and USB end)
button_y = wall + button_zone / 2;
keypad_y = wall + button_zone + gap;
oled_y = keypad_y + keypad[1] + gap + 2;

module rounded(size, r, h) {
    linear_extrude(h) offset(r) offset(-r) square(size);
}

module boss_positions() {
    for (x = [wall + corner / 2, outer[0] - wall - corner / 2])
        for (y = [wall + corner / 2, outer[1] - wall - corner / 2])
            translate([x, y]) children();
}

module back() {
    difference() {
        union() {
            difference() {
                rounded(outer, 3, floor_t + depth);
                translate([wall, wall, floor_t]) cube([inner[0], inner[1], depth + 1]);
            }
            boss_positions() cylinder(d = corner + 2, h = floor_t + depth);
            // Pico standoffs, USB end against the top wall, on the right
            pico_x = outer[0] - wall - gap - pico[1] / 2;
            pico_y = outer[1] - wall - pico[0] / 2;
            for (dx = [-1, 1] * pico_holes[1] / 2, dy = [-1, 1] * pico_holes[0] / 2)
                translate([pico_x + dx, pico_y + dy, 0]) cylinder(d = 4.5, h = floor_t + standoff);
            // a rim that keeps the battery holder in place, on the left
            translate([wall + gap - 1.2, wall + gap - 1.2, 0])
                difference() {
                    cube([battery[1] + 2.4, battery[0] + 2.4, floor_t + 4]);
                    translate([1.2, 1.2, -1]) cube([battery[1], battery[0], 10]);
                }
        }
        boss_positions() translate([0, 0, floor_t]) cylinder(d = screw_pilot, h = depth + 1);
        pico_x = outer[0] - wall - gap - pico[1] / 2;
        pico_y = outer[1] - wall - pico[0] / 2;
        for (dx = [-1, 1] * pico_holes[1] / 2, dy = [-1, 1] * pico_holes[0] / 2)
            translate([pico_x + dx, pico_y + dy, floor_t]) cylinder(d = 1.8, h = standoff + 1);
        // micro-USB opening in the top wall, centred on the Pico
        translate([pico_x - usb_cut[0] / 2, outer[1] - wall - 1, floor_t + standoff - 1])
            cube([usb_cut[0], wall + 2, usb_cut[1]]);
        // the battery holder's cover (and its switch) through the floor, with a 2 mm ledge
        translate([wall + gap + 2, wall + gap + 2, -1]) cube([battery[1] - 4, battery[0] - 4, floor_t + 2]);
    }
}

module front() {
    difference() {
        union() {
            rounded(outer, 3, lid_t + keypad_recess);
            // a lip that drops inside the tray's walls
            translate([wall + 0.3, wall + 0.3, -2])
                difference() {
                    cube([inner[0] - 0.6, inner[1] - 0.6, 2]);
                    translate([1.2, 1.2, -1]) cube([inner[0] - 3, inner[1] - 3, 4]);
                }
        }
        // keypad recess on the outer face, and the slot its ribbon goes through
        translate([(outer[0] - keypad[0]) / 2, keypad_y, lid_t]) cube([keypad[0], keypad[1], keypad_recess + 1]);
        translate([(outer[0] - ribbon[0]) / 2, keypad_y + 2, -3]) cube([ribbon[0], ribbon[1], lid_t + 5]);
        // OLED window, chamfered outwards
        translate([outer[0] / 2, oled_y + oled_pcb[1] / 2, -3])
            linear_extrude(lid_t + keypad_recess + 4, scale = 1.15)
                square([oled_window[0], oled_window[1]], center = true);
        // power button plunger
        translate([outer[0] / 2, button_y, -3]) cylinder(d = button_hole, h = lid_t + keypad_recess + 4);
        // countersunk screw holes
        boss_positions() {
            translate([0, 0, -3]) cylinder(d = screw_clear, h = 10);
            translate([0, 0, lid_t + keypad_recess - 1.2]) cylinder(d1 = screw_clear, d2 = 4.4, h = 1.21);
        }
    }
}

if (part == "back") back();
else if (part == "front") front();
else {
    back();
    translate([outer[0] + 10, 0, lid_t + keypad_recess]) rotate([0, 180, 0]) translate([-outer[0], 0, 0]) front();
}
